"""The hub's stream pairing: a stream attaches only with the one-time token sent to its agent."""

from __future__ import annotations

import pytest

from gateway import upkeep
from gateway.hub import AgentUnavailable, SessionSlot
from gateway.security import hash_token


@pytest.fixture
def hub(app):
    return app.extensions["ponte.hub"]


def test_stream_token_is_checked_and_single_use(hub):
    hub.sessions["s1"] = SessionSlot("s1", 7, hash_token("right-token"))
    assert hub.claim_stream("s1", "wrong-token") is None
    assert hub.claim_stream("nope", "right-token") is None
    assert "s1" in hub.pending  # a wrong guess does not cancel the real stream
    claimed = hub.claim_stream("s1", "right-token")
    assert claimed is not None and claimed.machine_id == 7
    assert hub.claim_stream("s1", "right-token") is None  # one use only
    assert hub.session_done("s1") is None and "s1" not in hub.sessions


def test_failure_of_another_machine_is_ignored(hub):
    pending = SessionSlot("s2", 7, hash_token("t"))
    hub.sessions["s2"] = pending
    hub.stream_failed(8, "s2", "not yours")  # another agent cannot fail this session
    assert not pending.result.ready()
    hub.stream_failed(7, "s2", "VNC server not answering")
    with pytest.raises(AgentUnavailable, match="VNC server not answering"):
        pending.result.get(block=False)


def test_machine_without_agent_anywhere_is_unavailable(app, hub):
    with app.app_context(), pytest.raises(AgentUnavailable):
        hub.request_stream(12345, "s3")
    assert "s3" not in hub.pending


def _channel(machine_id: int):
    """An agent channel on a real socket pair: the hub writes, the test reads."""
    import socket

    from agents.websocket import FramedWebSocket
    from tests.support.agent_channels import open_channel

    ours, agents_end = socket.socketpair()
    ws = FramedWebSocket()
    ws.socket, ws.client = ours, False  # the server end, as accept() leaves it
    return open_channel(machine_id, ws), agents_end


def test_local_stream_request_tells_every_node_where_the_viewer_waits(app, hub):
    """Issue 8 item 1: the agent's stream may land on the other node behind a balancer."""
    channel, agents_end = _channel(21)
    hub.attach_agent(channel)
    with app.app_context():
        hub.request_stream(21, "s-local")
    assert app.extensions["ponte.live"].stream_waiter("s-local") == app.config["PONTE"].node_id
    agents_end.settimeout(5)
    frame = agents_end.recv(4096)
    assert b'"type":"open"' in frame and b'"session":"s-local"' in frame


def test_of_two_channels_of_a_machine_the_one_opened_later_stays_current(hub):
    """An agent's quick reconnects: their handlers wait for SQL in turn and may reach the hub in
    any order; the channel this node took last is the agent's, whichever attaches first."""
    import gevent

    older, older_end = _channel(31)
    newer, newer_end = _channel(31)
    older.opened, newer.opened = hub.opening(), hub.opening()
    assert hub.attach_agent(newer) is True
    assert hub.attach_agent(older) is False   # it came late: not attached, nothing replaced
    assert hub.channels[31] is newer
    gevent.sleep(0.05)
    newer_end.setblocking(False)
    with pytest.raises(BlockingIOError):
        newer_end.recv(1)                      # the current channel was not closed
    assert hub.detach_agent(older) is False and hub.detach_agent(newer) is True
    older_end.close()
    newer_end.close()


def test_byte_updates_never_recreate_a_lost_session_record(app):
    live = app.extensions["ponte.live"]
    live.session_started("s-b", 3, {"state": "live", "user": "emp", "node": "n1", "bytes_to_viewer": 0})
    assert live.session_bytes("s-b", 10, 2) is True
    assert live.session("s-b")["bytes_to_viewer"] == "10"
    live.redis.delete(live.key("session", "s-b"))  # as after a Redis restart
    assert live.session_bytes("s-b", 20, 3) is False
    assert live.session("s-b") is None  # no partial record that would hide the whole one


def test_reassert_writes_back_agents_and_sessions_whole(app, hub):
    from gateway.relay import Relay

    live = app.extensions["ponte.live"]
    channel, _agents_end = _channel(22)
    channel.fields = {"name": "pc-22", "version": "1.0", "os": "Linux", "hostname": "h", "vnc_ok": True,
                      "vnc_detail": "ok"}
    hub.attach_agent(channel)
    fields = {"state": "live", "user": "emp", "user_id": 2, "machine": "pc-22", "machine_id": 22,
              "client_ip": "198.51.100.7", "node": "n1", "started": 1700000000.5}
    relay = Relay("s-r", channel.ws, channel.ws, machine_id=22, user_id=2, live_fields=fields)
    relay.to_viewer, relay.from_viewer = 5000, 40
    slot = hub.sessions["s-r"] = SessionSlot("s-r", 22, hash_token("t"))
    hub.claim_stream("s-r", "t")
    hub.relay_started(slot, relay)
    hub.address = "127.0.0.1:9"
    upkeep.reassert(hub)  # Redis was empty: as after a restart
    me = app.config["PONTE"].node_id
    agent = live.agent(22)
    assert agent["node"] == me and agent["since"] == str(channel.since) and agent["vnc_ok"] == "1"
    assert live.node_address(me) == "127.0.0.1:9"
    assert live.session("s-r") == {**{k: str(v) for k, v in fields.items()},
                                   "bytes_to_viewer": "5000", "bytes_from_viewer": "40"}
    assert "s-r" in live.live_ids() and live.machine_session_count(22) == 1
