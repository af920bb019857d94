"""Dead-peer detection (issue 8 item 8): the pure silence tracker and the defaults' bounds."""

from __future__ import annotations

import pytest

from gateway.config import GatewaySettings
from gateway.liveness import MISSES, SAMPLES_PER_INTERVAL, Silence


def run(silence: Silence, script):
    """Feed (time, counts, excused) samples; the verdicts."""
    return [silence.tick(t, counts, excused) for t, counts, excused in script]


def test_a_side_silent_for_three_intervals_is_dead():
    s = Silence(10, ("agent", "viewer"), now=0)
    verdicts = run(s, [(t, {"agent": 5, "viewer": t}, ()) for t in (2, 10, 20, 29)])
    assert [d for d, _ in verdicts] == [None, None, None, None]
    assert s.tick(32, {"agent": 5, "viewer": 32})[0] == "agent"  # last change seen at t=2


@pytest.mark.parametrize("counts, excused, dead", [
    ({"agent": 1, "viewer": 1}, (), "agent"),         # nothing moved on either side: the first
    ({"agent": 2, "viewer": 1}, (), "viewer"),        # the agent spoke, the viewer did not
    ({"agent": 1, "viewer": 1}, ("agent",), "viewer"),  # agent not read (viewer slow): excused
    ({"agent": 2, "viewer": 2}, (), None),
])
def test_any_change_is_life_and_excused_sides_wait(counts, excused, dead):
    s = Silence(1, ("agent", "viewer"), now=0)
    s.tick(0, {"agent": 1, "viewer": 1})
    assert s.tick(MISSES, counts, excused)[0] == dead


def test_pings_once_an_interval():
    s = Silence(15, ("a", "b"), now=0)
    steps = [i * s.step for i in range(1, 3 * SAMPLES_PER_INTERVAL + 1)]
    pings = [t for t in steps if s.tick(t, {"a": t, "b": t})[1]]
    assert pings == pytest.approx([15, 30, 45])


def test_defaults_give_the_issue_bounds():
    """Issue 8: a frozen agent's viewer is told within ~45 s; drain in 10 s; a dead
    node's rows closed within 60 s (record TTL, then one reaper round a third of it later)."""
    d = GatewaySettings()
    assert d.stream_ping_interval * (MISSES + 1 / SAMPLES_PER_INTERVAL) <= 48
    assert d.drain_timeout == 10
    assert d.node_ttl * (1 + 1 / 3) <= 60
