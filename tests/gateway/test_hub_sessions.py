"""The hub with fakes (no app, no Redis, no sockets): a session's lifecycle and what ends it."""

from __future__ import annotations

import dataclasses
import json
import time

import gevent

import pytest

from agents.protocol import control
from gateway import nodebus, upkeep
from gateway.config import GatewaySettings
from gateway.errors import AgentUnavailable
from gateway.hub import AgentChannel, Hub
from tests.support.agent_channels import open_channel, welcomed_connection
from gateway.journal import Journal
from gateway.relay import BULK_READ, CLOSE_RESTART, MIN_QUANTUM, RESTART_REASON, ROUND_BYTES, Relay
from gateway.security import hash_token
from gateway.slots import SessionSlot, State


class FakeLive:
    """The few ``LiveStore`` calls the hub makes, kept in dicts."""

    def __init__(self):
        self.waiting: dict[str, str] = {}
        self.agents: dict[int, dict] = {}
        self.addresses: dict[str, str] = {}
        self.published: list[tuple[str, nodebus.Command]] = []

    def stream_waiting(self, session, node, ttl):
        self.waiting[session] = node

    def stream_waiter(self, session):
        return self.waiting.get(session)

    def agent(self, machine_id):
        return self.agents.get(machine_id)

    def node_address(self, node):
        return self.addresses.get(node)

    def publish(self, node, command):
        nodebus.encode(command)  # only commands go on the bus
        self.published.append((node, command))
        return 1

    def node_gone(self, node):
        self.addresses.pop(node, None)


class FakeRecords:
    def __init__(self):
        self.closed: list[tuple[str, str, str]] = []

    def write_end(self, record):
        pass

    def close_row(self, session, reason, node):
        self.closed.append((session, reason, node))
        return True


class FakeSocket:
    """What an ``AgentChannel`` writes to: the control messages, decoded."""

    def __init__(self):
        self.sent: list = []
        self.closed: tuple[int, str] | None = None

    def write_message(self, data: bytes) -> None:
        self.sent.append(control.decode_from_gateway(data))

    def close_with(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class FakeRelay:
    def __init__(self, machine_id: int, user_id: int):
        self.machine_id, self.user_id = machine_id, user_id
        self.stopped: list = []
        self.live_fields, self.to_viewer, self.from_viewer, self.ended = {}, 0, 0, False

    def stop(self, reason, **kwargs):
        self.stopped.append((reason, kwargs))


@pytest.fixture
def hub(tmp_path):
    settings = GatewaySettings(instance_path=str(tmp_path), node_id="n1")
    return Hub(FakeLive(), settings, FakeRecords(), journal=Journal(tmp_path))


def _agent(hub, machine_id: int) -> FakeSocket:
    ws = FakeSocket()
    hub.attach_agent(open_channel(machine_id, ws))
    return ws


def _token(ws: FakeSocket, session: str) -> str:
    return next(e.token for e in ws.sent if isinstance(e, control.OpenStream) and e.session == session)


def test_a_session_moves_pending_attached_relaying_done(hub):
    ws = _agent(hub, 7)
    slot = hub.request_stream(7, "s1")
    assert slot.state is State.PENDING and hub.live.waiting == {"s1": "n1"}
    assert hub.pending == {"s1": slot} and hub.relays == {}
    assert hub.claim_stream("s1", "not-it") is None and slot.state is State.PENDING
    assert hub.claim_stream("s1", _token(ws, "s1")) is slot and slot.state is State.ATTACHED
    assert hub.claim_stream("s1", _token(ws, "s1")) is None  # one use only
    relay = FakeRelay(7, 2)
    hub.relay_started(slot, relay)
    assert slot.state is State.RELAYING and hub.relays == {"s1": relay} and hub.held() == {"s1"}
    hub.session_done("s1")
    assert slot.state is State.DONE and hub.held() == set() and hub.relays == {}


def test_states_only_move_forward(hub):
    slot = SessionSlot("s1", 7, hash_token("t"))
    with pytest.raises(RuntimeError, match="pending cannot become relaying"):
        slot.advance(State.RELAYING)
    slot.advance(State.ATTACHED)
    with pytest.raises(RuntimeError, match="attached cannot become attached"):
        slot.advance(State.ATTACHED)


def test_a_failed_stream_ends_a_pending_session_and_marks_an_attached_one(hub):
    ws = _agent(hub, 7)
    waiting = hub.request_stream(7, "s1")
    hub.stream_failed(7, "s1", "VNC server not answering")
    with pytest.raises(AgentUnavailable, match="VNC server not answering"):
        waiting.result.get(block=False)
    assert "s1" not in hub.sessions
    running = hub.request_stream(7, "s2")
    hub.claim_stream("s2", _token(ws, "s2"))
    hub.stream_failed(8, "s2", "not yours")
    assert running.failure is None
    assert not running.failed.is_set()
    hub.stream_failed(7, "s2", "wrong VNC password")
    assert running.failure == "wrong VNC password" and running.state is State.ATTACHED
    assert running.failed.is_set()  # an end waiting for the PC's word hears it now


@pytest.mark.parametrize(("reason", "to_viewer", "waits"), [
    ("viewer closed", 120, True),             # left after no more than a refusal's bytes
    ("viewer closed", 2_000_000, False),      # had a screen: its end is written at once
    ("The PC closed the connection", 120, False),
])
def test_only_a_viewer_that_left_after_a_refusal_waits_for_the_pcs_word(reason, to_viewer, waits):
    from gateway.pairing import LATE_FAILURE_WAIT, _late_failure
    from gateway.relay import RelayResult

    slot = SessionSlot("s1", 7, "hash")
    started = time.monotonic()
    assert _late_failure(slot, RelayResult(reason, to_viewer, 10)) is None
    assert (time.monotonic() - started >= LATE_FAILURE_WAIT * 0.9) is waits
    gevent.spawn_later(0.05, slot.fail, "wrong VNC password")
    started = time.monotonic()
    assert _late_failure(slot, RelayResult(reason, to_viewer, 10)) == ("wrong VNC password" if waits else None)
    assert time.monotonic() - started < LATE_FAILURE_WAIT


def test_a_failure_for_a_viewer_on_another_node_is_forwarded_there(hub):
    hub.live.waiting["s9"] = "n2"
    hub.stream_failed(7, "s9", "VNC refused")
    assert hub.live.published == [("n2", nodebus.StreamFailed(7, "s9", "VNC refused"))]


def test_an_agent_on_another_node_is_asked_over_the_bus(hub):
    hub.live.agents[7] = {"node": "n2"}
    hub.live.addresses["n2"] = "10.0.0.2:8000"
    slot = hub.request_stream(7, "s1")
    [(node, command)] = hub.live.published
    assert node == "n2" and isinstance(command, nodebus.OpenStream)
    assert (command.machine_id, command.session) == (7, "s1") and slot.token_hash == hash_token(command.token)
    with pytest.raises(AgentUnavailable):
        hub.request_stream(8, "s2")  # no agent anywhere
    assert set(hub.sessions) == {"s1"}


def test_bus_commands_reach_the_relays_and_agents_they_name(hub):
    ws = _agent(hub, 7)
    relays = {}
    for session, machine, user in (("a", 7, 1), ("b", 7, 2), ("c", 8, 2)):
        slot = hub.sessions[session] = SessionSlot(session, machine, hash_token("t"))
        hub.claim_stream(session, "t")
        hub.relay_started(slot, relays.setdefault(session, FakeRelay(machine, user)))
    hub.on_bus_message(nodebus.encode(nodebus.EndUser(2, "Your account was disabled")))
    assert [bool(r.stopped) for r in relays.values()] == [False, True, True]
    hub.on_bus_message(nodebus.encode(nodebus.EndSession("a", "Backup")))
    assert relays["a"].stopped == [("Backup", {})]
    hub.on_bus_message(nodebus.encode(nodebus.RetryVnc(7)))
    hub.on_bus_message(nodebus.encode(nodebus.OpenStream(7, "s-peer", "tok")))
    assert ws.sent[-2:] == [control.RetryVnc(), control.OpenStream(session="s-peer", token="tok")]
    hub.on_bus_message(nodebus.encode(nodebus.RevokeMachine(7, "Revoked")))
    assert ws.sent[-1] == control.Refused(code="revoked", message="Revoked") and ws.closed[0] == 4003
    assert relays["b"].stopped[-1] == ("Revoked", {})


def test_an_unheld_session_is_closed_in_sql_and_a_held_one_is_not(hub):
    hub.sessions["held"] = SessionSlot("held", 7, hash_token("t"))
    hub.on_bus_message(json.dumps({"cmd": "end", "session": "held"}).encode())
    hub.on_bus_message(json.dumps({"cmd": "end", "session": "gone", "reason": "r"}).encode())
    assert hub.records.closed == [("gone", "r", "n1")]


def test_drain_fails_the_waiting_and_stops_the_relaying(hub):
    _agent(hub, 7)
    waiting = hub.request_stream(7, "s1")
    running = hub.sessions["s2"] = SessionSlot("s2", 7, hash_token("t"))
    hub.claim_stream("s2", "t")
    relay = FakeRelay(7, 1)
    hub.relay_started(running, relay)
    relay.stop = lambda reason, **kw: (FakeRelay.stop(relay, reason, **kw), hub.session_done("s2"))
    hub.channels.clear()  # as if the agent had gone already
    upkeep.drain(hub, deadline=0)
    with pytest.raises(AgentUnavailable, match=RESTART_REASON):
        waiting.result.get(block=False)
    assert relay.stopped[0][0] == RESTART_REASON and relay.stopped[0][1]["code"] == CLOSE_RESTART
    assert hub.sessions == {} and hub.draining
    with pytest.raises(AgentUnavailable):
        hub.request_stream(7, "s3")


class _Unpolled:
    socket = None  # a pump's turn waits on its socket; these relays never pump


def test_the_fair_share_is_the_hubs_not_the_modules(hub, tmp_path):
    """Two nodes in one process (as in tests) must not share one round."""
    other = Hub(FakeLive(), dataclasses.replace(hub.settings, node_id="n2"), FakeRecords(),
                journal=Journal(tmp_path / "other"))
    full = hub.fair_share.quantum()
    assert hub.fair_share is not other.fair_share and full > MIN_QUANTUM
    relays = [Relay(f"s{i}", _Unpolled(), _Unpolled(), machine_id=1, user_id=1, fair_share=hub.fair_share)
              for i in range(ROUND_BYTES // MIN_QUANTUM)]
    for relay in relays:
        relay._count_down(BULK_READ)  # a bulk read: this relay streams
    assert hub.fair_share.streaming == set(relays) and other.fair_share.streaming == set()
    assert hub.fair_share.quantum() == MIN_QUANTUM and other.fair_share.quantum() == full
    relays[0]._count_down(10)  # a small read: no longer streaming
    assert relays[0] not in hub.fair_share.streaming


def test_the_channel_sends_through_the_gateways_side_of_the_conversation():
    """``AgentChannel.send`` goes through ``control.GatewayConnection.send``: what the gateway may
    not say now raises our own protocol error and writes nothing."""
    ws = FakeSocket()
    channel = open_channel(7, ws)
    channel.send(control.OpenStream(session="s1", token="t"))
    assert ws.sent == [control.OpenStream(session="s1", token="t")]
    with pytest.raises(control.LocalProtocolError):
        channel.send(control.Heartbeat(info=control.AgentInfo()))   # the agent's event, not ours
    with pytest.raises(control.LocalProtocolError):
        channel.send(control.Welcome(machine="pc-7", heartbeat=20.0))   # welcomed once already
    assert ws.sent == [control.OpenStream(session="s1", token="t")]


def test_a_conversation_not_yet_welcomed_carries_no_stream_request():
    ws = FakeSocket()
    channel = AgentChannel(8, "pc-8", ws, control.GatewayConnection())   # no hello yet
    with pytest.raises(control.LocalProtocolError):
        channel.send(control.OpenStream(session="s1", token="t"))
    assert ws.sent == []
    assert welcomed_connection("pc-8").state is control.State.OPEN


def test_an_agent_serves_only_its_own_firms_sessions(hub):
    """Issue 17: a session of firm 1 is never asked of an agent whose credential was firm 2's,
    on this node or through the node bus (machine ids are global: a row and an agent that
    disagree would be a bug, refused all the same)."""
    ws = FakeSocket()
    channel = open_channel(7, ws)
    channel.organisation_id = 2
    hub.attach_agent(channel)
    with pytest.raises(AgentUnavailable):
        hub.request_stream(7, "s1", 1)
    assert "s1" not in hub.pending and not [e for e in ws.sent if isinstance(e, control.OpenStream)]
    hub.handle_command(nodebus.OpenStream(7, "s2", "tok", 1))   # a peer asking for firm 1's stream
    assert not [e for e in ws.sent if isinstance(e, control.OpenStream)]
    hub.handle_command(nodebus.OpenStream(7, "s3", "tok", 2))   # its own firm's: asked
    assert [e.session for e in ws.sent if isinstance(e, control.OpenStream)] == ["s3"]
    assert hub.request_stream(7, "s4", 2).state is State.PENDING
