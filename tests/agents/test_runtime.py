"""Staying connected, without sockets: Backoff and the agent's reconnect loop."""

from __future__ import annotations

import logging
import random
import statistics

import pytest

from agents import runtime
from agents.config import AgentSettings
from agents.runtime import Agent, Backoff, CredentialRefused
from agents.transport import TransportError


def ceilings(backoff: Backoff, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out.append(backoff.ceiling)
        backoff.next()
    return out


def test_backoff_bounds_double_from_half_a_second_to_a_minute():
    top = Backoff(rng=lambda: 1.0)  # the largest draw: the delay is the ceiling itself
    delays = [top.next() for _ in range(12)]
    assert delays == [0.5, 1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60]
    assert ceilings(Backoff(), 9) == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]


def test_backoff_never_zero_and_never_above_the_cap():
    low = Backoff(rng=lambda: 0.0)
    assert {low.next() for _ in range(20)} == {Backoff.MIN_DELAY}
    rng = random.Random(1)
    b = Backoff(rng=rng.random)
    for _ in range(2000):
        ceiling = b.ceiling
        delay = b.next()
        assert Backoff.MIN_DELAY <= delay <= ceiling <= 60


def test_backoff_full_jitter_spreads_over_the_whole_range():
    """Full jitter (uniform over [0, ceiling]), not "ceiling ± a bit": agents that all lost the
    same gateway must not come back in one wave."""
    rng = random.Random(42)
    b = Backoff(rng=rng.random)
    for _ in range(10):
        b.next()  # reach the cap
    draws = [b.next() for _ in range(5000)]
    assert min(draws) < 1.0 and max(draws) > 59.0
    assert 28 < statistics.mean(draws) < 32  # uniform on [0, 60]: mean 30
    assert sum(d < 30 for d in draws) / len(draws) == pytest.approx(0.5, abs=0.03)


def test_backoff_reset():
    b = Backoff(rng=lambda: 1.0)
    for _ in range(5):
        b.next()
    assert b.ceiling == 16
    b.reset()
    assert b.ceiling == 0.5 and b.next() == 0.5


def test_backoff_months_of_failures_do_not_overflow():
    b = Backoff(rng=lambda: 1.0)
    for _ in range(100_000):  # ~70 days of failures at one a minute
        assert b.next() <= 60


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


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
        agent.welcomed_at = clock.now  # connected and welcomed…
        clock.now += step              # …for this many seconds, then dropped

    monkeypatch.setattr(agent.stop_event, "wait", fake_wait)
    monkeypatch.setattr(agent, "serve_once", fake_serve_once)
    yield agent, script, waits
    agent.stop()


def test_reconnect_delays_grow_and_reset_after_a_stable_minute(loop):
    agent, script, waits = loop
    script += [TransportError("down"), OSError("reset"), TransportError("down"),
               10.0,                      # up 10 s: not stable, keep growing
               TransportError("down"),
               61.0,                      # up a minute: stable, start again at 0.5 s
               TransportError("down"), TransportError("down")]
    agent.run_forever()
    assert waits == [0.5, 1, 2, 4, 8, 0.5, 1, 2]


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
    agent.vnc_detail = "x" * 5000
    info = agent.info()
    assert len(info.vnc_detail) <= 512 and info.version and info.os and info.hostname
    from agents.protocol import control
    assert control.decode_from_agent(control.encode(control.Heartbeat(info=info))).info == info
