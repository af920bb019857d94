"""The agent hub: this node's agent control channels, pending streams and relays.

One ``Hub`` per gateway process. It also listens on the node's Redis
channels (DESIGN.md §3) so that another process — the CLI, the admin API on
another node — can end a session or revoke a machine held here.

Exceptions::

    AgentUnavailable     no control channel for the machine on this node
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import gevent
import gevent.event
import gevent.lock
import redis

from agents.protocol import control
from agents.protocol.framing import FramedWebSocket

from .live import LiveStoreError
from .security import hash_token, new_token, token_matches

log = logging.getLogger(__name__)

CLOSE_REPLACED = 4000
CLOSE_REVOKED = 4003


class AgentUnavailable(Exception):
    """The machine's agent is not connected to this node."""


@dataclass
class AgentChannel:
    machine_id: int
    machine_name: str
    ws: FramedWebSocket
    lock: gevent.lock.Semaphore = field(default_factory=gevent.lock.Semaphore)

    def send(self, event) -> None:
        with self.lock:
            self.ws.write_message(control.encode(event))

    def close(self, code: int, reason: str) -> None:
        with self.lock:
            self.ws.close_with(code, reason)


@dataclass
class PendingStream:
    session: str
    machine_id: int
    token_hash: str
    result: gevent.event.AsyncResult = field(default_factory=gevent.event.AsyncResult)


class Hub:
    def __init__(self, app):
        self.app = app
        self.channels: dict[int, AgentChannel] = {}
        self.pending: dict[str, PendingStream] = {}
        self.relays: dict = {}
        #: Why an agent could not serve a session it had already attached
        #: (e.g. its VNC server refused the password): becomes the end reason.
        self.failures: dict[str, str] = {}
        self.attached: dict[str, int] = {}  # session → machine, from attach until the session ends
        self._listener = None

    # -- agents --

    def attach_agent(self, channel: AgentChannel) -> None:
        old = self.channels.get(channel.machine_id)
        self.channels[channel.machine_id] = channel
        if old is not None and old is not channel:
            log.info("machine %s reconnected; closing its previous channel", channel.machine_name)
            gevent.spawn(old.close, CLOSE_REPLACED, "Replaced by a newer connection")

    def detach_agent(self, channel: AgentChannel) -> bool:
        """Forget ``channel``; True if it was still the current one."""
        if self.channels.get(channel.machine_id) is channel:
            del self.channels[channel.machine_id]
            return True
        return False

    # -- streams --

    def request_stream(self, machine_id: int, session: str) -> PendingStream:
        """Ask the machine's agent to open a stream for ``session``."""
        channel = self.channels.get(machine_id)
        token = new_token(32)
        pending = PendingStream(session, machine_id, hash_token(token))
        if channel is None:
            # Registered first: the forwarded stream may arrive while we still
            # wait for Redis to confirm the publish.
            self.pending[session] = pending
            try:
                self._request_remote(machine_id, session, token)
            except AgentUnavailable:
                self.pending.pop(session, None)
                raise
            return pending
        self.pending[session] = pending
        try:
            channel.send(control.OpenStream(session=session, token=token))
        except OSError as exc:
            self.pending.pop(session, None)
            raise AgentUnavailable(machine_id) from exc
        return pending

    def _request_remote(self, machine_id: int, session: str, token: str) -> None:
        """The agent is held by another node: ask it, over Redis, to open the stream.

        The agent's stream may then land on any node behind the load balancer;
        that node forwards it here (``stream_waiter``), where the viewer waits.
        """
        live = self.app.extensions["ponte.live"]
        me = self.app.config["PONTE"].node_id
        try:
            agent = live.agent(machine_id)
            node = (agent or {}).get("node")
            if not node or node == me or not live.node_address(node):
                raise AgentUnavailable(machine_id)
            live.stream_waiting(session, me, int(self.app.config["PONTE"].stream_timeout) + 5)
            if live.publish(node, {"cmd": "open", "machine_id": machine_id, "session": session,
                                   "token": token}) == 0:
                raise AgentUnavailable(machine_id)
        except LiveStoreError as exc:
            raise AgentUnavailable(machine_id) from exc

    def claim_stream(self, session: str, token: str) -> PendingStream | None:
        """The pending stream if ``token`` is the one we sent; one use only."""
        pending = self.pending.get(session)
        if pending is None or not token_matches(pending.token_hash, token):
            return None
        del self.pending[session]
        self.attached[session] = pending.machine_id
        return pending

    def stream_failed(self, machine_id: int, session: str, reason: str) -> None:
        pending = self.pending.get(session)
        if pending is not None and pending.machine_id == machine_id:
            del self.pending[session]
            pending.result.set_exception(AgentUnavailable(reason))
            return
        if self.attached.get(session) == machine_id:
            self.failures[session] = reason
            return
        # A viewer waiting on another node: tell that node.
        live = self.app.extensions["ponte.live"]
        try:
            node = live.stream_waiter(session)
            if node and node != self.app.config["PONTE"].node_id:
                live.publish(node, {"cmd": "stream_failed", "machine_id": machine_id, "session": session,
                                    "reason": reason})
        except LiveStoreError as exc:
            log.warning("stream failure of %s not forwarded: %s", session, exc)

    def session_done(self, session: str) -> str | None:
        """Forget a finished session; the agent's failure reason, if it sent one."""
        self.relays.pop(session, None)
        self.attached.pop(session, None)
        return self.failures.pop(session, None)

    def forget_stream(self, session: str) -> None:
        self.pending.pop(session, None)

    # -- live sessions --

    def end_session(self, session: str, reason: str) -> bool:
        relay = self.relays.get(session)
        if relay is None:
            return False
        relay.stop(reason)
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

    def handle_command(self, command: dict) -> None:
        """Apply one command received on this node's channel."""
        kind = command.get("cmd")
        try:
            if kind == "end":
                self.end_session(str(command["session"]), str(command.get("reason", "Ended by an admin")))
            elif kind == "revoke":
                self.end_machine(int(command["machine_id"]), str(command.get("reason", "Machine revoked")),
                                 revoke=True)
            elif kind == "end_user":
                self.end_user(int(command["user_id"]), str(command.get("reason", "Account disabled")))
            elif kind == "open":
                self._open_for_peer(int(command["machine_id"]), str(command["session"]), str(command["token"]))
            elif kind == "vnc_retry":
                self.send_agent(int(command["machine_id"]), control.RetryVnc())
            elif kind == "stream_failed":
                self.stream_failed(int(command["machine_id"]), str(command["session"]),
                                   str(command.get("reason", "")))
            else:
                log.warning("unknown node command %r", kind)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("malformed node command %r: %s", command, exc)

    def send_agent(self, machine_id: int, event) -> None:
        """Send a control event to the machine's agent if this node holds it."""
        channel = self.channels.get(machine_id)
        if channel is not None:
            try:
                channel.send(event)
            except OSError as exc:
                log.info("could not send %s to machine %s: %s", type(event).__name__, machine_id, exc)

    def _open_for_peer(self, machine_id: int, session: str, token: str) -> None:
        channel = self.channels.get(machine_id)
        if channel is None:
            log.info("asked to open a stream for machine %s, which is not connected here", machine_id)
            return
        try:
            channel.send(control.OpenStream(session=session, token=token))
        except OSError as exc:
            log.info("could not ask machine %s for a stream: %s", machine_id, exc)

    # -- background --

    def start(self) -> None:
        """Listen for node commands (needs a running gevent hub)."""
        if self._listener is None:
            self._listener = gevent.spawn(self._listen)

    def _listen(self) -> None:
        live = self.app.extensions["ponte.live"]
        settings = self.app.config["PONTE"]
        backoff = 0.5
        while True:
            pubsub = None
            try:
                pubsub = live.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(live.key("node", settings.node_id), live.key("nodes"))
                backoff = 0.5
                for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        command = json.loads(message["data"])
                    except ValueError:
                        log.warning("junk on node channel ignored")
                        continue
                    if isinstance(command, dict):
                        self.handle_command(command)
            except redis.RedisError as exc:
                log.warning("node channel lost (%s); retrying in %.1fs", exc, backoff)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except redis.RedisError:
                        pass
            gevent.sleep(backoff)
            backoff = min(backoff * 2, 10)
