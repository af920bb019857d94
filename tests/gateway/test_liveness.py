"""Dead-peer detection (issue 8 item 8): the pure silence tracker and the defaults' bounds."""

from __future__ import annotations

import socket

import gevent
import pytest

from agents.websocket import FramedWebSocket
from gateway.config import GatewaySettings
from gateway.liveness import MISSES, SAMPLES_PER_INTERVAL, Pinger, Silence


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


def _tcp_pair(rcvbuf: int | None = None):
    """(our end, the peer's end) of a real loopback TCP connection."""
    import socket

    srv = socket.socket()
    if rcvbuf:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # inherited by the accepted end
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    ours = socket.create_connection(srv.getsockname())
    theirs, _ = srv.accept()
    srv.close()
    return ours, theirs


def _server_ws(sock):
    from agents.websocket import FramedWebSocket

    ws = FramedWebSocket()
    ws.socket, ws.client = sock, False
    return ws


def test_a_backed_up_viewer_excuses_the_agent_and_reading_is_its_life():
    """A pump blocked on a slow viewer reads nothing from the agent: not the agent's fault."""
    import time as _time

    from gateway.liveness import BACKED_UP, Watch, unsent

    viewer, viewer_peer = _tcp_pair(rcvbuf=4096)
    agent, agent_peer = _tcp_pair()
    watch = Watch(1, {"agent": _server_ws(agent), "viewer": _server_ws(viewer)}, now=0)
    viewer.setblocking(False)
    try:
        while True:
            viewer.send(b"x" * 65536)
    except BlockingIOError:
        pass
    _time.sleep(0.2)
    assert unsent(_server_ws(viewer)) >= BACKED_UP
    reads = {"agent": 0, "viewer": 0}
    verdicts = [watch.tick(t / 5, reads)[0] for t in range(1, 18)]  # three intervals, nothing read
    assert verdicts[-1] == "viewer" and "agent" not in verdicts
    # The viewer reads a little: its backlog shrinks, which is life.
    watch = Watch(1, {"agent": _server_ws(agent), "viewer": _server_ws(viewer)}, now=0)
    for t in range(1, 16):
        viewer_peer.recv(65536)
        _time.sleep(0.01)
        assert watch.tick(t / 5, reads)[0] != "viewer"
    for s in (viewer, viewer_peer, agent, agent_peer):
        s.close()


def test_a_frozen_peer_whose_kernel_acknowledges_pings_is_silent():
    from gateway.liveness import Watch

    agent, agent_peer = _tcp_pair()   # agent_peer never reads: a process stopped with SIGSTOP
    viewer, viewer_peer = _tcp_pair()
    ws = _server_ws(agent)
    watch = Watch(1, {"agent": ws, "viewer": _server_ws(viewer)}, now=0)
    dead = None
    for t in range(1, 18):
        if t % 5 == 0:
            ws.ping()
        dead = watch.tick(t / 5, {"agent": 0, "viewer": t})[0]
    assert dead == "agent"
    for s in (viewer, viewer_peer, agent, agent_peer):
        s.close()


def test_a_ping_that_went_out_is_let_go():
    # A finished ping's greenlet kept to the next ping was held by every session (two each).
    a, b = socket.socketpair()
    try:
        ws = FramedWebSocket.established(a, client=False)
        pinger = Pinger()
        pinger.ping(ws, lambda: b"probe")
        (sending,) = pinger.inflight.values()
        sending.join(5)
        gevent.sleep(0)
        assert b.recv(64) == b"\x89\x05probe"  # an unmasked ping (RFC 6455 §5.5.2)
        assert pinger.inflight == {}
        pinger.ping(ws)  # and the next one goes out too
        gevent.sleep(0.05)
        assert b.recv(64) == b"\x89\x00" and pinger.inflight == {}
    finally:
        a.close()
        b.close()
