"""Staying connected: the Backoff schedule and the agent's reconnect loop without sockets, then
``Reconnect`` against a scripted gateway on a real socket."""

from __future__ import annotations

import logging
import random
import statistics
import threading
import time

import pytest

from agents import backoff, runtime
from agents.config import AgentSettings
from agents.protocol import control
from agents.backoff import Backoff
from agents.runtime import Agent, CredentialRefused, bounded
from agents.transport import TransportError
from tests.agents.conftest import OneShotServer, accept_ws
from tests.support import wait_for


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def schedule(backoff: Backoff, clock, seconds: float) -> list[tuple[float, float]]:
    """``(time of the draw since start, ceiling)`` of each wait while every dial fails for
    ``seconds``."""
    start, out = clock.now, []
    while clock.now - start < seconds:
        ceiling = backoff.ceiling
        out.append((clock.now - start, ceiling))
        delay = backoff.next()
        assert Backoff.MIN_DELAY <= delay <= ceiling
        clock.now += delay
    return out


def test_quick_phase_then_doubling_to_a_minute():
    clock = FakeClock()
    top = Backoff(rng=lambda: 1.0, clock=clock)  # the largest draw: each delay is its ceiling
    steps = schedule(top, clock, 300)
    ceilings = [c for _t, c in steps]
    # 0.5, 1, then 2 s steps until 30 s have passed; then 4, 8, 16, 32 and the 60 s cap.
    assert ceilings[:3] == [0.5, 1.0, 2.0]
    quick = [c for t, c in steps if t < backoff.QUICK_WINDOW]
    assert quick == [0.5, 1.0] + [2.0] * 15  # draws at 0, 0.5, 1.5, 3.5 … 29.5 s
    slow = ceilings[len(quick):]
    assert slow[:6] == [4, 8, 16, 32, 60, 60]


def test_a_healthy_gateway_is_redialled_within_seconds():
    """The first redials after losing a healthy gateway come fast: 3 within 3.5 s, and no gap
    longer than 2 s during the first half minute, whatever the draws."""
    for draw in (0.0, 0.37, 1.0):
        clock = FakeClock()
        steps = schedule(Backoff(rng=lambda: draw, clock=clock), clock, 30)
        dials = [t for t, _c in steps[1:]]  # each wait ends in a dial
        assert dials[2] <= 3.5
        assert max(b - a for a, b in zip([0.0] + dials, dials)) <= 2.0


def test_never_a_busy_loop_and_never_above_the_cap():
    clock = FakeClock()
    low = Backoff(rng=lambda: 0.0, clock=clock)
    steps = schedule(low, clock, 40)
    assert len(steps) <= 40 / Backoff.MIN_DELAY + 1  # at most 10 dials a second, even on 0 draws
    rng = random.Random(1)
    b = Backoff(rng=rng.random, clock=clock)
    for _ in range(5000):
        ceiling = b.ceiling
        delay = b.next()
        clock.now += delay
        assert Backoff.MIN_DELAY <= delay <= ceiling <= 60


def test_full_jitter_spreads_over_the_whole_range():
    """Full jitter (uniform over [MIN_DELAY, ceiling]), not "ceiling ± a bit": agents that all
    lost the same gateway must not come back in one wave."""
    clock = FakeClock()
    rng = random.Random(42)
    b = Backoff(rng=rng.random, clock=clock)
    clock.now += 3600  # long past the quick phase
    for _ in range(10):
        b.next()  # reach the cap
    draws = [b.next() for _ in range(5000)]
    assert min(draws) < 1.0 and max(draws) > 59.0
    assert 28 < statistics.mean(draws) < 32  # uniform on [0.1, 60]: mean ~30
    assert sum(d < 30 for d in draws) / len(draws) == pytest.approx(0.5, abs=0.03)


def test_reset_starts_a_new_quick_phase():
    clock = FakeClock()
    b = Backoff(rng=lambda: 1.0, clock=clock)
    schedule(b, clock, 200)
    assert b.ceiling == 60
    b.reset()
    assert b.ceiling == 0.5 and b.next() == 0.5


def test_months_of_failures_do_not_overflow():
    clock = FakeClock()
    b = Backoff(rng=lambda: 1.0, clock=clock)
    clock.now += 3600
    for _ in range(100_000):  # ~70 days of failures at one a minute
        assert b.next() <= 60


def _fleet_back(n: int, outage: float, seed: int) -> list[float]:
    """When each of ``n`` agents that lost the gateway at t=0 first dials it after it is back at
    ``outage`` (every earlier dial is refused): the schedule alone, no sockets."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        clock = FakeClock()
        b = Backoff(rng=rng.random, clock=clock)
        start = clock.now
        while clock.now - start < outage:
            clock.now += b.next()
        out.append(clock.now - start - outage)
    return sorted(out)


def test_a_fleet_is_back_within_seconds_of_a_short_outage_and_spread_out():
    for outage in (2.0, 6.0, 8.0, 25.0):
        back = _fleet_back(1000, outage, seed=int(outage))
        assert back[-1] <= 2.0, outage          # everyone within one quick ceiling
        # No herd: they arrive spread over the whole ceiling, not in one instant.
        first_half = sum(t < 1.0 for t in back) / len(back)
        assert 0.3 < first_half < 0.8, (outage, first_half)
        assert back[len(back) // 10] < 0.4 and back[-len(back) // 10] > 1.2


def test_after_a_long_outage_the_fleet_still_returns_within_a_minute():
    back = _fleet_back(300, 120.0, seed=7)
    assert back[-1] <= 60.0


@pytest.fixture
def loop(monkeypatch):
    """An Agent whose serve_once plays a script and whose waits are recorded, not slept."""
    clock = FakeClock()
    monkeypatch.setattr(runtime.time, "monotonic", clock)
    agent = Agent(AgentSettings(gateway="https://gw.example"), "https://gw.example", "1.secret")
    agent.backoff = Backoff(rng=lambda: 1.0)
    monkeypatch.setattr(agent, "probe_vnc", lambda: None)
    waits: list[float] = []
    script: list = []

    def fake_wait(delay):
        waits.append(delay)
        clock.now += delay
        if not script:
            agent.stop_event.set()
        return agent.stop_event.is_set()

    def fake_serve_once():
        step = script.pop(0)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, control.Reconnect):  # welcomed, then told to come back later
            agent.welcomed_at = clock.now
            agent._handle(step)
            return
        agent.welcomed_at = clock.now  # connected and welcomed…
        clock.now += step              # …for this many seconds, then dropped

    monkeypatch.setattr(agent.stop_event, "wait", fake_wait)
    monkeypatch.setattr(agent, "serve_once", fake_serve_once)
    yield agent, script, waits
    agent.stop()


def test_redials_quick_after_a_healthy_connection_grow_after_a_flapping_one(loop):
    agent, script, waits = loop
    script += [TransportError("down"), OSError("reset"), TransportError("down"),
               10.0,                      # up 10 s: the gateway was healthy, a new quick phase
               TransportError("down"),
               5.0,                       # up 5 s only: a flapping gateway, no new quick phase
               TransportError("down"), TransportError("down")]
    agent.run_forever()
    assert waits == [0.5, 1, 2, 0.5, 1, 2, 2, 2]


def test_a_long_outage_backs_off_after_half_a_minute(loop):
    agent, script, waits = loop
    script += [TransportError("down")] * 22
    agent.run_forever()
    assert waits[:3] == [0.5, 1, 2]
    quick = waits[:waits.index(4)]
    assert set(quick[2:]) == {2} and 29 <= sum(quick) <= 32
    assert waits[len(quick):len(quick) + 5] == [4, 8, 16, 32, 60]


def test_reconnect_from_a_draining_gateway_waits_as_told_and_is_no_failure(loop):
    agent, script, waits = loop
    agent.rng = lambda: 0.5  # the jitter's draw: half of RECONNECT_JITTER
    script += [TransportError("down"), TransportError("down"), TransportError("down"),
               control.Reconnect(after=20, reason="node draining"),
               TransportError("down"), TransportError("down")]
    agent.run_forever()
    assert waits == [0.5, 1, 2, 20 + runtime.RECONNECT_JITTER / 2, 0.5, 1]


def test_unexpected_errors_cost_a_reconnect_not_the_agent(loop, caplog):
    agent, script, waits = loop
    script += [RuntimeError("a bug"), KeyError("another"), 5.0]
    with caplog.at_level(logging.ERROR, logger="agents.runtime"):
        agent.run_forever()
    assert waits == [0.5, 1, 2]
    assert "control channel failed unexpectedly" in caplog.text


def test_refused_credential_stops_without_retrying(loop):
    agent, script, waits = loop
    script += [TransportError("down"), CredentialRefused("This machine's credential was revoked."), 5.0]
    with pytest.raises(CredentialRefused, match="revoked"):
        agent.run_forever()
    assert waits == [0.5]  # one wait after the first failure, none after the refusal
    assert script == [5.0]


def test_heartbeat_info_is_bounded():
    agent = Agent(AgentSettings(), "https://gw.example", "1.secret")
    agent.vnc.detail = "word " * 1000
    info = agent.info()
    assert len(info.vnc_detail) <= 512 and info.version and info.os and info.hostname
    assert info.vnc_detail.endswith("word…")  # cut between words, and it says so
    assert control.decode_from_agent(control.encode(control.Heartbeat(info=info))).info == info


# --------------------------------------------------------------------------- a scripted gateway, real sockets


def test_reconnect_closes_the_channel_and_dials_again_after_the_delay():
    """``Reconnect(after)`` from a gateway (a draining node): the agent closes this channel at once
    and dials again ``after`` seconds (plus jitter) later; a failed dial then is retried quickly."""
    hellos: list[float] = []
    closed: list[float] = []

    def script(conn):
        ws = accept_ws(conn)
        ws.settimeout(5)
        if b'"hello"' not in (ws.read_message() or b""):
            return
        hellos.append(time.monotonic())
        ws.write_message(control.encode(control.Welcome(machine="pc", heartbeat=5)))
        if len(hellos) == 1:
            ws.write_message(control.encode(control.Reconnect(after=1.0, reason="node draining")))
        while ws.read_message() is not None:  # until the agent closes
            pass
        closed.append(time.monotonic())

    server = OneShotServer()
    server.script = script
    agent = Agent(AgentSettings(insecure_dev=True, vnc_port=1), f"http://127.0.0.1:{server.port}", "1.secret")
    agent.rng = lambda: 0.25  # jitter 0.5 s
    thread = threading.Thread(target=agent.run_forever, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(hellos) >= 2, timeout=15, what="second hello")
        assert closed and closed[0] - hellos[0] < 1.0  # closed at once, not at the next heartbeat
        gap = hellos[1] - closed[0]
        assert 1.0 + 0.5 - 0.1 <= gap <= 1.0 + 0.5 + 1.0, gap
        assert agent.backoff.tries == 0  # no failure was counted
    finally:
        agent.stop()
        thread.join(10)
        server.close()


@pytest.mark.parametrize("text, limit, out", [
    ("short", 10, "short"),
    ("the VNC server rejected the password", 20, "the VNC server…"),
    ("unbreakable" * 5, 12, "unbreakable…"),
    ("a, b, c, d, e, f", 9, "a, b, c…"),
])
def test_bounded_cuts_at_a_word(text, limit, out):
    assert bounded(text, limit) == out and len(out) <= limit
