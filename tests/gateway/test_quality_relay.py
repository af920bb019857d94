"""A relay between real WebSocket peers (gevent socket pairs) measures both hops' round trips
from the pings it sends anyway, and only from those: data frames cost the probes nothing."""

from __future__ import annotations

import gevent
import gevent.socket
import pytest

from agents.websocket import FramedWebSocket
from gateway.relay import Relay


def _pair():
    ours, theirs = gevent.socket.socketpair()
    return FramedWebSocket.established(ours, client=False), FramedWebSocket.established(theirs, client=True)


def _reader(ws: FramedWebSocket, got: list):
    def run():
        # read_message answers pings (websockify's handle_ping) as any browser or agent does
        while (message := ws.read_message()) is not None:
            got.append(len(message))
    return gevent.spawn(run)


@pytest.fixture
def session():
    viewer, viewer_peer = _pair()
    agent, agent_peer = _pair()
    rtts = []
    relay = Relay("s1", viewer, agent, machine_id=1, user_id=1, ping_interval=0.5,
                  on_rtt=lambda hop, ms: rtts.append((hop, ms)))
    to_viewer, to_agent = [], []
    workers = [_reader(viewer_peer, to_viewer), _reader(agent_peer, to_agent)]
    runner = gevent.spawn(relay.run)
    yield relay, viewer_peer, agent_peer, rtts, to_viewer
    relay.stop("test over")
    runner.join(5)
    for ws in (viewer_peer, agent_peer):
        ws.close_with(1000, "bye")
    gevent.killall(workers, timeout=2)


def _until(predicate, timeout=5.0):
    with gevent.Timeout(timeout, AssertionError("timed out")):
        while not predicate():
            gevent.sleep(0.02)


def test_both_hops_get_round_trips_from_the_first_ping(session):
    relay, _viewer_peer, _agent_peer, rtts, _ = session
    _until(lambda: {hop for hop, _ in rtts} == {"viewer", "agent"})
    assert relay.quality.viewer.last_ms is not None and 0 <= relay.quality.viewer.last_ms < 1000
    assert relay.quality.agent.last_ms is not None and 0 <= relay.quality.agent.last_ms < 1000
    fields = relay.quality.live_fields()
    assert fields["rtt_viewer_ms"] != "" and fields["rtt_agent_ms"] != ""
    # one sample a ping: after ~3 intervals a handful, not hundreds
    gevent.sleep(1.6)
    assert 2 <= len(relay.quality.viewer.samples) <= 6


def test_data_frames_touch_no_probe(session):
    relay, viewer_peer, agent_peer, rtts, to_viewer = session
    _until(lambda: len(rtts) >= 2)
    pongs_heard = []
    hook = relay.viewer.on_pong
    relay.viewer.on_pong = lambda data: (pongs_heard.append(data), hook(data))
    before = (len(relay.quality.viewer.samples), len(relay.quality.agent.samples))
    for _ in range(500):
        agent_peer.write_message(b"\0" * 1000)  # screen data, relayed cut-through
    _until(lambda: sum(to_viewer) >= 500_000)
    after = (len(relay.quality.viewer.samples), len(relay.quality.agent.samples))
    # at most the one or two pings that fell due meanwhile, whatever the 500 frames
    assert after[0] - before[0] <= 2 and after[1] - before[1] <= 2
    assert len(pongs_heard) <= 2


def test_a_pong_nobody_asked_for_is_no_sample(session):
    relay, viewer_peer, _agent_peer, rtts, _ = session
    _until(lambda: len(rtts) >= 2)
    count = len(relay.quality.viewer.samples)
    viewer_peer.pong(b"ponte-rtt\0\0\0\0\0\0\0\xff")  # forged: a sequence we never sent
    viewer_peer.pong(b"")
    gevent.sleep(0.2)
    assert len(relay.quality.viewer.samples) == count


def test_an_idle_session_holds_a_page_for_input_and_16_kib_for_the_screen(monkeypatch):
    # Two buffers a session, most sessions idle: the input one at 16 KiB was an eighth of what
    # an idle session held in the gateway (~120 KB traced, 2026-12-02).
    import agents.websocket

    made = []

    class Recorded(agents.websocket.CutThrough):
        def __init__(self, **kw):
            super().__init__(**kw)
            made.append(self)

    monkeypatch.setattr(agents.websocket, "CutThrough", Recorded)
    viewer, viewer_peer = _pair()
    agent, agent_peer = _pair()
    relay = Relay("s2", viewer, agent, machine_id=1, user_id=1, ping_interval=60)
    got = []
    workers = [_reader(viewer_peer, got), _reader(agent_peer, got)]
    runner = gevent.spawn(relay.run)
    try:
        viewer_peer.write_message(b"\x04\x01\x00\x00\x00\x00\xff\x0d")  # a key press
        _until(lambda: got == [8] and len(made) == 2)
        assert sorted(parser.fb.size for parser in made) == [4 * 1024, 16 * 1024]
    finally:
        relay.stop("test over")
        runner.join(5)
        for ws in (viewer_peer, agent_peer):
            ws.close_with(1000, "bye")
        gevent.killall(workers, timeout=2)
