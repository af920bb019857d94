"""The agent hub: this node's agent control channels and the viewer sessions it holds.

One ``Hub`` per gateway process. Agents are kept by machine
(``AgentChannel``), one control channel each; sessions by id, one
``SessionSlot`` each, whose state only moves forward (``slots``: pending →
attached → relaying → done). Other processes — the CLI, the admin API on
another node — reach it over the node bus (``nodebus``, ``buslistener``):
``handle_command`` applies what they ask. What must survive faults —
re-assert to Redis, drain, journal — is in ``upkeep``; a session end SQL
did not take waits in the node's journal (``journal_end``).

Raises ``AgentUnavailable`` (``gateway.errors``): no agent can serve a session now.
"""

# Over 300 lines: the node's agents, sessions and node-bus commands share one state (``channels``,
# ``sessions``) whose transitions must be read together.

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field

import gevent
import gevent.event
import gevent.lock

from agents.protocol import control
from agents.websocket import FramedWebSocket

from . import buslistener, nodebus, tenancy, upkeep
from .errors import AgentUnavailable, NodeBusError
from .journal import EndRecord, Journal, retry_forever
from .live import LiveStoreError
from .relay import FairShare, Relay
from .security import hash_token, new_token, token_matches
from .slots import SessionSlot, State

log = logging.getLogger(__name__)

CLOSE_REPLACED = 4000
CLOSE_REVOKED = 4003
#: A disabled firm's agent (issue 17): not "revoked", so it keeps dialling, and is welcome again
#: the moment the provider enables the firm.
CLOSE_ORGANISATION_DISABLED = 4004


@dataclass
class AgentChannel:
    """One agent's control channel, once welcomed: its socket and its side of the conversation.

    ``conn`` is the gateway's state machine of this conversation (``control.GatewayConnection``,
    past its welcome, as ``ws.agent_control`` leaves it): every event sent goes through it, so
    one the gateway may not send now raises ``control.LocalProtocolError`` and nothing is written.
    The reading side (``ws.agent_control``) feeds the same ``conn`` what the agent says.
    """

    machine_id: int
    machine_name: str
    ws: FramedWebSocket
    conn: control.GatewayConnection
    lock: gevent.lock.Semaphore = field(default_factory=gevent.lock.Semaphore)
    #: The agent's live record (``agent:<machine>``) as last written, for re-asserting it.
    fields: dict = field(default_factory=dict)
    since: float = field(default_factory=time.time)
    #: The firm of the machine its credential named (issue 17): it serves that firm's sessions only.
    organisation_id: int = tenancy.DEFAULT
    #: When this node took its socket (``Hub.opening``): of two channels of one machine, the one
    #: opened later is the agent's current one, whichever handler reaches ``attach_agent`` first.
    opened: int = 0

    def send(self, event) -> None:
        # Under the lock: the order of the conversation's steps is the order of the bytes.
        with self.lock:
            self.ws.write_message(self.conn.send(event))

    def close(self, code: int, reason: str) -> None:
        with self.lock:
            self.ws.close_with(code, reason)


class Hub:
    """This node's agents and sessions; built from what it needs (``app.create_app``).

    ``live`` is the node's ``LiveStore``, ``settings`` its ``GatewaySettings``,
    ``records`` what writes session ends to SQL (``records.SqlRecords``).
    """

    def __init__(self, live, settings, records, *, journal: Journal | None = None):
        self.live = live
        self.settings = settings
        self.records = records
        self.channels: dict[int, AgentChannel] = {}  # by machine: one control channel each
        self.sessions: dict[str, SessionSlot] = {}   # by session, until it is done
        #: Streams that landed here and are forwarded to their viewer's node: not
        #: sessions of ours (their viewer's node holds and records them).
        self.forwards: dict = {}
        #: File transfers waiting for their agent's file stream (``files.TransferSlot``), by transfer.
        self.transfers: dict = {}
        #: The screen pumps of every relay on this node share one round (``relay``).
        self.fair_share = FairShare()
        self.address = ""  # this node's internal address, once serving
        self.announced = ""  # what ``node:<id>`` tells other nodes: node_address, or a worker's own port
        self.draining = False
        #: ``serve --workers``: the other workers of this machine, which take streams by hand-over.
        self.siblings = None
        self.journal = journal or Journal(settings.instance_path)
        self._journal_wake = gevent.event.Event()
        self._listener = None
        self._reasserting = None
        self._openings = itertools.count(1)

    # -- agents --

    def opening(self) -> int:
        """The next channel's place in the order this node took their sockets (``AgentChannel.opened``)."""
        return next(self._openings)

    def attach_agent(self, channel: AgentChannel) -> bool:
        """Make ``channel`` its machine's current one, closing the one it replaces; False (and not
        attached) if a channel opened after it is current already: the handlers of an agent's
        quick reconnects wait for SQL in turn and may get here in any order, the newest must win."""
        old = self.channels.get(channel.machine_id)
        if old is not None and old is not channel and old.opened > channel.opened:
            return False
        self.channels[channel.machine_id] = channel
        if old is not None and old is not channel:
            log.info("machine %s reconnected; closing its previous channel", channel.machine_name)
            gevent.spawn(old.close, CLOSE_REPLACED, "Replaced by a newer connection")
        return True

    def detach_agent(self, channel: AgentChannel) -> bool:
        """Forget ``channel``; True if it was still the current one."""
        if self.channels.get(channel.machine_id) is channel:
            del self.channels[channel.machine_id]
            return True
        return False

    # -- sessions: pending → attached → relaying → done --

    def in_state(self, state: State) -> dict[str, SessionSlot]:
        return {sid: slot for sid, slot in self.sessions.items() if slot.state is state}

    @property
    def pending(self) -> dict[str, SessionSlot]:
        """Sessions waiting for their stream (a snapshot)."""
        return self.in_state(State.PENDING)

    @property
    def relays(self) -> dict[str, Relay]:
        """The relays of this node's sessions, by session (a snapshot)."""
        return {sid: slot.relay for sid, slot in list(self.sessions.items()) if slot.relay is not None}

    def held(self) -> set[str]:
        """Sessions this node is setting up, relaying or recording."""
        return set(self.sessions)

    def request_stream(self, machine_id: int, session: str, organisation_id: int = tenancy.DEFAULT) -> SessionSlot:
        """Ask the machine's agent to open a stream for ``session`` of firm ``organisation_id``.

        Whichever node holds the agent, its stream may land on any node
        behind the balancer: the ``streamwait`` marker, written before the
        agent is asked, tells that node where the viewer waits. An agent of
        another firm is never asked (machine ids are global, so this only
        fails if a row and an agent disagree: checked all the same).
        """
        if self.draining:
            raise AgentUnavailable(machine_id)
        channel = self.channels.get(machine_id)
        if channel is not None and channel.organisation_id != organisation_id:
            log.warning("machine %s: its agent is of organisation %s, the session of %s: refused",
                        machine_id, channel.organisation_id, organisation_id)
            raise AgentUnavailable(machine_id)
        token = new_token(32)
        slot = SessionSlot(session, machine_id, hash_token(token))
        # Registered first: the stream may arrive while we still talk to Redis.
        self.sessions[session] = slot
        try:
            if channel is None:
                self._request_remote(machine_id, session, token, organisation_id)
            else:
                self._mark_waiting(session)
                channel.send(control.OpenStream(session=session, token=token))
        except (AgentUnavailable, OSError) as exc:
            self.sessions.pop(session, None)
            if isinstance(exc, AgentUnavailable):
                raise
            raise AgentUnavailable(machine_id) from exc
        return slot

    def waiting_ttl(self) -> int:
        """Seconds a ``streamwait`` marker lives: the viewer waits ``stream_timeout`` at most."""
        return int(self.settings.stream_timeout) + 5

    def _mark_waiting(self, session: str) -> None:
        try:
            self.live.stream_waiting(session, self.settings.node_id, self.waiting_ttl())
        except LiveStoreError as exc:
            # The stream can still reach us directly; only a detour through
            # another node would miss its way.
            log.warning("stream marker of %s not written: %s", session, exc)

    def _request_remote(self, machine_id: int, session: str, token: str, organisation_id: int) -> None:
        """The agent is held by another node: ask it, over Redis, to open the stream."""
        live = self.live
        me = self.settings.node_id
        try:
            agent = live.agent(machine_id)
            node = (agent or {}).get("node")
            if not node or node == me or not live.node_address(node):
                raise AgentUnavailable(machine_id)
            if str(agent.get("org") or tenancy.DEFAULT) != str(organisation_id):
                raise AgentUnavailable(machine_id)   # another firm's agent: never asked
            live.stream_waiting(session, me, self.waiting_ttl())
            if live.publish(node, nodebus.OpenStream(machine_id, session, token, organisation_id)) == 0:
                raise AgentUnavailable(machine_id)
        except LiveStoreError as exc:
            raise AgentUnavailable(machine_id) from exc

    def claim_stream(self, session: str, token: str) -> SessionSlot | None:
        """The pending session if ``token`` is the one we sent, now attached; one use only."""
        slot = self.sessions.get(session)
        if slot is None or slot.state is not State.PENDING or not token_matches(slot.token_hash, token):
            return None
        slot.advance(State.ATTACHED)
        return slot

    def relay_started(self, slot: SessionSlot, relay: Relay) -> None:
        """``slot``'s relay runs: admins can end it, drain stops it, reassert writes it back."""
        slot.relay = relay
        slot.advance(State.RELAYING)

    def stream_failed(self, machine_id: int, session: str, reason: str) -> None:
        transfer = self.transfers.get(session)  # a file stream the agent could not open
        if transfer is not None and transfer.machine_id == machine_id:
            if not transfer.result.ready():
                transfer.result.set_exception(AgentUnavailable(reason))
            return
        slot = self.sessions.get(session)
        if slot is not None and slot.machine_id == machine_id:
            if slot.state is State.PENDING:
                self.session_done(session)
                slot.result.set_exception(AgentUnavailable(reason))
            else:
                slot.fail(reason)
            return
        # A viewer waiting on another node: tell that node.
        try:
            node = self.live.stream_waiter(session)
            if node and node != self.settings.node_id:
                self.live.publish(node, nodebus.StreamFailed(machine_id, session, reason))
        except LiveStoreError as exc:
            log.warning("stream failure of %s not forwarded: %s", session, exc)

    def session_done(self, session: str) -> None:
        """Forget a session: its end is recorded, or it never started."""
        slot = self.sessions.pop(session, None)
        if slot is not None:
            slot.state = State.DONE

    # -- live sessions --

    def end_session(self, session: str, reason: str) -> bool:
        """Stop ``session``'s relay if this node runs it."""
        slot = self.sessions.get(session)
        if slot is None or slot.relay is None:
            return False
        slot.relay.stop(reason)
        return True

    def end_machine(self, machine_id: int, reason: str, *, revoke: bool = False) -> None:
        for relay in list(self.relays.values()):
            if relay.machine_id == machine_id:
                relay.stop(reason)
        channel = self.channels.get(machine_id)
        if revoke and channel is not None:
            try:
                channel.send(control.Refused(code="revoked", message=reason))
            except OSError:
                pass
            channel.close(CLOSE_REVOKED, reason)

    def end_user(self, user_id: int, reason: str) -> None:
        for relay in list(self.relays.values()):
            if relay.user_id == user_id:
                relay.stop(reason)

    def end_organisation(self, organisation_id: int, reason: str) -> None:
        """A disabled firm: drop its agents held here and the sessions they serve (its viewers'
        sessions on other nodes are ended by their own ``EndSession``)."""
        for channel in [c for c in self.channels.values() if c.organisation_id == organisation_id]:
            self.end_machine(channel.machine_id, reason)
            try:
                channel.send(control.Refused(code="organisation_disabled", message=reason))
            except (OSError, control.ControlError):
                pass
            channel.close(CLOSE_ORGANISATION_DISABLED, reason)

    def close_unheld(self, session: str, reason: str) -> bool:
        """Asked to end a session of ours that we do not hold (its record outlived
        it): close the record. True if it was ours to close."""
        if session in self.held():
            return False
        return self.records.close_row(session, reason, self.settings.node_id)

    def handle_command(self, command: nodebus.Command) -> None:
        """Apply one node-bus command (decoded, so already valid: ``nodebus``)."""
        match command:
            case nodebus.EndSession(session, reason):
                if not self.end_session(session, reason):
                    self.close_unheld(session, reason)
            case nodebus.RevokeMachine(machine_id, reason):
                self.end_machine(machine_id, reason, revoke=True)
            case nodebus.EndUser(user_id, reason):
                self.end_user(user_id, reason)
            case nodebus.EndOrganisation(organisation_id, reason):
                self.end_organisation(organisation_id, reason)
            case nodebus.OpenStream(machine_id, session, token, organisation_id):
                self._open_for_peer(machine_id, session, token, organisation_id)
            case nodebus.RetryVnc(machine_id):
                self.send_agent(machine_id, control.RetryVnc())
            case nodebus.StreamFailed(machine_id, session, reason):
                self.stream_failed(machine_id, session, reason)
            case nodebus.Wake(machine_id, mac, broadcast):
                self.send_agent(machine_id, control.Wake(mac=mac, broadcast=broadcast))
            case nodebus.OpenFiles(machine_id, transfer, token, op, folder, name, size, upload):
                # An op the agent does not know would make it drop its control channel.
                if not self.draining and op in control.FILE_OPS:
                    self.send_agent(machine_id, control.OpenFiles(transfer=transfer, token=token, op=op,
                                                                  folder=folder, name=name, size=size,
                                                                  upload=upload))
            case _:
                raise TypeError(f"not a node command: {command!r}")

    def on_bus_message(self, data: bytes) -> None:
        """One message from this node's channels: junk is logged and dropped, never raised."""
        try:
            command = nodebus.decode(data)
        except NodeBusError as exc:
            log.warning("junk on node channel dropped: %s", exc)
            return
        self.handle_command(command)

    def send_agent(self, machine_id: int, event) -> None:
        """Send a control event to the machine's agent if this node holds it."""
        channel = self.channels.get(machine_id)
        if channel is not None:
            try:
                channel.send(event)
            except OSError as exc:
                log.info("could not send %s to machine %s: %s", type(event).__name__, machine_id, exc)

    def _open_for_peer(self, machine_id: int, session: str, token: str, organisation_id: int) -> None:
        channel = self.channels.get(machine_id)
        if channel is None or self.draining:
            log.info("asked to open a stream for machine %s, which is not connected here", machine_id)
            return
        if channel.organisation_id != organisation_id:
            log.warning("asked for a stream of organisation %s from machine %s of %s: refused",
                        organisation_id, machine_id, channel.organisation_id)
            return
        try:
            channel.send(control.OpenStream(session=session, token=token))
        except OSError as exc:
            log.info("could not ask machine %s for a stream: %s", machine_id, exc)

    # -- records --

    def journal_end(self, record: EndRecord) -> None:
        """SQL did not take this end: keep it on disk and retry until it does."""
        self.journal.append(record)
        self._journal_wake.set()

    # -- background --

    def request_reassert(self) -> None:
        """Re-assert soon (``upkeep.reassert``), once, however many callers noticed a missing record."""
        if self._reasserting is None or self._reasserting.dead:
            self._reasserting = gevent.spawn(upkeep.reassert, self)

    def start(self, reaper) -> None:
        """Listen for node commands, retry journaled ends, run ``reaper`` (needs a gevent hub)."""
        if self._listener is None:
            self._listener = gevent.spawn(buslistener.listen, self, reaper)
            gevent.spawn(retry_forever, self.journal, self.records.write_end, self._journal_wake)
            gevent.spawn(reaper.run_forever)
