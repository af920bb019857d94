"""The agent control protocol, sans-IO.

The agent holds one WebSocket to the gateway (``/ws/agent``). Each WebSocket
message carries one JSON object with a ``type``; this module turns bytes into
typed, validated events and events into bytes, and keeps the conversation in
order: one connection object per role (``AgentConnection``,
``GatewayConnection``, as h11's ``Connection``) with a ``State``,
``send(event) -> bytes`` and ``receive(bytes) -> [event]``. It never touches
a socket, so the gateway (gevent) and the agent (threads) share it, and junk
or an event out of turn from either side is rejected here before any other
code sees it.

Conversation::

    agent                                   gateway
    Hello(credential, info)        ──▶
                                   ◀──      Welcome(machine, heartbeat)  |  Refused(code, message)
    Heartbeat(info)                ──▶      (every ``heartbeat`` seconds)
                                   ◀──      OpenStream(session, token)
    StreamFailed(session, reason)  ──▶      (only when the agent cannot serve it)
                                   ◀──      Refused(code, message)  (the credential was revoked)
                                   ◀──      Reconnect(after, reason)  (the node is draining:
                                            come back through the balancer in ``after`` s)
                                   ◀──      RetryVnc()  (an admin asks: log in to the VNC server
                                            again, even after a wrong password stopped the tries)
                                   ◀──      Wake(mac, broadcast)  (send the magic packet for a PC
                                            on our subnet: ``wol.magic_packet``, UDP port 9)
                                   ◀──      OpenFiles(transfer, token, op, folder, name, size, upload)
                                            (open a file stream: ``filestream``)
    StreamFailed(transfer, reason) ──▶      (when the agent cannot open it)

Each stream is its own WebSocket (``/ws/agent/stream/<session>``) whose first
message is ``Attach(token)``, with the one-time token from ``OpenStream``;
every later message is raw RFB bytes. A file transfer is its own WebSocket too
(``/ws/agent/files/<transfer>``), attached the same way, then carrying
``filestream`` messages: files never ride inside RFB.

``AgentInfo.interfaces`` carries the agent's network interfaces
(``wol.Interface``: MAC, IPv4 address, prefix, broadcast), checked as they are
decoded, so the gateway can wake the PC later through a neighbour.

Every string field is bounded and cleaned of control and bidi characters as
it is decoded (``text.clean``), so whatever a peer sends can be logged, stored
and shown without forging a log line or a status text.

A ``Hello`` in mode "check" (``agents doctor``) ends with the answer: the
gateway closes after its ``Welcome``. A session ends when its stream socket
closes; nothing on the control channel says so.

States (both roles)::

    HELLO ──Hello──▶ WELCOME ──Welcome──▶ OPEN  (heartbeats, streams, until the socket closes)
                             ──Welcome to a check, or Refused──▶ CLOSED

Errors: ``ControlError``, ``LocalProtocolError`` (ours), ``RemoteProtocolError``
(the peer's; ``event`` is the decoded event when it was merely out of turn);
the tree is drawn once, in ``errors.py``.
"""

# Over 300 lines: the events, their validating codec and the conversation's
# state machines are one protocol; split, each half would import the other.

from __future__ import annotations

import enum
import ipaddress
import json
from dataclasses import asdict, dataclass, fields, replace

from .errors import ControlError, LocalProtocolError, RemoteProtocolError, WakeError
from .jsonobject import load_object
from .text import clean
from .wol import MAX_INTERFACES, Interface, from_dict, normalise_mac

DEFAULT_MAX_MESSAGE = 16 * 1024
MAX_TEXT = 512
MAX_STATE = 32

#: Refusal codes the gateway sends; ``revoked`` and ``unknown`` tell the agent
#: that retrying with the same credential is pointless.
REFUSED_FINAL = frozenset({"revoked", "unknown"})


@dataclass(frozen=True)
class AgentInfo:
    """What an agent says about itself on every hello and heartbeat."""

    version: str = ""
    os: str = ""
    hostname: str = ""
    vnc_ok: bool = False
    vnc_detail: str = ""
    #: Why the VNC server is not usable (``agents.vnc.KINDS``), "ok", or "" (older agents).
    vnc_state: str = ""
    #: The network interfaces a magic packet can reach (``wol.wakeable``); () from older agents.
    interfaces: tuple[Interface, ...] = ()


@dataclass(frozen=True)
class Hello:
    credential: str
    info: AgentInfo
    #: "check" only verifies the credential (``agents status``, ``agents.doctor``) without
    #: replacing the running agent's channel.
    mode: str = "serve"


@dataclass(frozen=True)
class Heartbeat:
    info: AgentInfo


@dataclass(frozen=True)
class StreamFailed:
    session: str
    reason: str


@dataclass(frozen=True)
class Welcome:
    machine: str
    heartbeat: float


@dataclass(frozen=True)
class Refused:
    code: str
    message: str


@dataclass(frozen=True)
class OpenStream:
    session: str
    token: str


@dataclass(frozen=True)
class Reconnect:
    """The gateway node is going away (drain): close this channel and dial again in
    ``after`` seconds, through the load balancer, which sends us to a node that stays."""

    after: float
    reason: str


@dataclass(frozen=True)
class RetryVnc:
    """An admin asks the agent to log in to its VNC server again (after fixing its password)."""


@dataclass(frozen=True)
class Wake:
    """Send the magic packet for the card ``mac`` to ``broadcast``, UDP port 9: a PC on one
    of our subnets is asleep and someone asked to wake it."""

    mac: str
    broadcast: str


#: What an ``OpenFiles`` asks for: files to the PC, from the PC, or the list of what may be fetched.
FILE_OPS = ("upload", "download", "list")
MAX_FILE_SIZE = 2**53  # what a browser's Number holds exactly


@dataclass(frozen=True)
class OpenFiles:
    """Open the file stream ``/ws/agent/files/<transfer>`` (``filestream``) and attach it with ``token``.

    ``upload``: ``name`` (as the person's browser gave it: the agent makes it safe) of
    ``size`` bytes, into the agent's upload folder; ``download``: the file ``name`` in the
    agent's allowed folder number ``folder`` (from a listing); ``list``: name and size unused.
    ``upload`` (uploads only, may be empty): the key of a resumable upload (32 hex digits),
    whose part file the agent keeps when the stream breaks (``filestream``: resuming).
    An older agent ignores it and takes the upload whole, as before.
    """

    transfer: str
    token: str
    op: str
    folder: int = 0
    name: str = ""
    size: int = 0
    upload: str = ""


@dataclass(frozen=True)
class Attach:
    """First message on a stream socket: proves the agent was asked to open it."""

    token: str


STREAM_ATTACH = {"attach": Attach}
AGENT_TO_GATEWAY = {"hello": Hello, "heartbeat": Heartbeat, "stream_failed": StreamFailed}
GATEWAY_TO_AGENT = {"welcome": Welcome, "refused": Refused, "open": OpenStream, "reconnect": Reconnect,
                    "vnc_retry": RetryVnc, "wake": Wake, "open_files": OpenFiles}
_TYPE_OF = {cls: name for table in (AGENT_TO_GATEWAY, GATEWAY_TO_AGENT, STREAM_ATTACH) for name, cls in table.items()}


def encode(event) -> bytes:
    """Serialise one event to the bytes of one WebSocket message."""
    try:
        kind = _TYPE_OF[type(event)]
    except KeyError:
        raise LocalProtocolError(f"not a control event: {event!r}") from None
    return json.dumps({"type": kind, **asdict(event)}, separators=(",", ":")).encode()


def _text(obj: dict, name: str, limit: int = MAX_TEXT) -> str:
    """A bounded string field without control or bidi characters (``text.clean``).

    Every string from the peer passes here, so nothing it sends can forge a
    log line, a history reason or the viewer's status text further on.
    """
    value = obj.get(name, "")
    if not isinstance(value, str):
        raise RemoteProtocolError(f"field {name!r} must be a string")
    if len(value) > limit:
        raise RemoteProtocolError(f"field {name!r} longer than {limit}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") would break whoever encodes it later
        raise RemoteProtocolError(f"field {name!r} is not valid Unicode") from None
    return clean(value)


def _info(obj) -> AgentInfo:
    if not isinstance(obj, dict):
        raise RemoteProtocolError("field 'info' must be an object")
    vnc_ok = obj.get("vnc_ok", False)
    if not isinstance(vnc_ok, bool):
        raise RemoteProtocolError("field 'vnc_ok' must be a boolean")
    return AgentInfo(
        version=_text(obj, "version", 64),
        os=_text(obj, "os", 128),
        hostname=_text(obj, "hostname", 255),
        vnc_ok=vnc_ok,
        vnc_detail=_text(obj, "vnc_detail"),
        vnc_state=_text(obj, "vnc_state", MAX_STATE),
        interfaces=_interfaces(obj.get("interfaces", [])),
    )


def _interfaces(value) -> tuple[Interface, ...]:
    if not isinstance(value, list) or len(value) > MAX_INTERFACES:
        raise RemoteProtocolError(f"field 'interfaces' must be a list of at most {MAX_INTERFACES}")
    try:
        # The name is for people: cleaned like every other string a peer sends.
        return tuple(replace(iface, name=clean(iface.name)) for iface in map(from_dict, value))
    except WakeError as exc:
        raise RemoteProtocolError(f"field 'interfaces': {exc}") from None


def _broadcast(value) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise RemoteProtocolError("field 'broadcast' must be an IPv4 address") from None


def _build(cls, obj: dict):
    values = {}
    for f in fields(cls):
        if f.name == "info":
            values["info"] = _info(obj.get("info"))
        elif f.name == "heartbeat":
            hb = obj.get("heartbeat")
            if not isinstance(hb, (int, float)) or isinstance(hb, bool) or not 1 <= hb <= 3600:
                raise RemoteProtocolError("field 'heartbeat' must be a number of seconds")
            values["heartbeat"] = float(hb)
        elif cls is Wake:
            try:
                values[f.name] = normalise_mac(obj.get("mac")) if f.name == "mac" else _broadcast(obj.get(f.name))
            except WakeError as exc:
                raise RemoteProtocolError(f"field 'mac': {exc}") from None
        elif f.name in ("folder", "size"):
            value = obj.get(f.name, 0)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_FILE_SIZE:
                raise RemoteProtocolError(f"field {f.name!r} must be a whole number from 0 to {MAX_FILE_SIZE}")
            values[f.name] = value
        elif f.name == "op":
            if obj.get("op") not in FILE_OPS:
                raise RemoteProtocolError(f"field 'op' must be one of {', '.join(FILE_OPS)}")
            values["op"] = obj["op"]
        elif f.name == "after":
            after = obj.get("after")
            if not isinstance(after, (int, float)) or isinstance(after, bool) or not 0 <= after <= 3600:
                raise RemoteProtocolError("field 'after' must be a number of seconds")
            values["after"] = float(after)
        else:
            values[f.name] = _text(obj, f.name)
    return cls(**values)


def decode(message: bytes, table: dict, *, max_message: int = DEFAULT_MAX_MESSAGE):
    """Parse one message into an event of ``table`` or raise ``ControlError``."""
    obj = load_object(message, limit=max_message, error=RemoteProtocolError, what="control message")
    cls = table.get(obj.get("type")) if isinstance(obj.get("type"), str) else None
    if cls is None:
        raise RemoteProtocolError(f"unexpected control message type {obj.get('type')!r}")
    return _build(cls, obj)


def decode_from_agent(message: bytes):
    """An event the gateway received from an agent."""
    return decode(message, AGENT_TO_GATEWAY)


def decode_from_gateway(message: bytes):
    """An event the agent received from the gateway."""
    return decode(message, GATEWAY_TO_AGENT)


# -- the conversation ---------------------------------------------------------------------------------

class State(enum.Enum):
    """Where a control conversation is (the same for both roles)."""

    HELLO = "hello"      # the agent has not said hello yet
    WELCOME = "welcome"  # hello said: the gateway's answer is due
    OPEN = "open"        # welcomed: heartbeats and streams until the socket closes
    CLOSED = "closed"    # refused, or a check answered: nothing more may pass


class _Connection:
    """One side of a control channel: events out as bytes, bytes in as events, in order."""

    _incoming: dict  # the decoding table for what the peer sends

    def __init__(self):
        self.state = State.HELLO
        self._check = False  # the hello was a check: its welcome ends the conversation

    def send(self, event) -> bytes:
        """The bytes of one WebSocket message carrying ``event``; ``LocalProtocolError`` if out of turn."""
        if not self._may_send(event):
            raise LocalProtocolError(f"{type(event).__name__} may not be sent in state {self.state.name}")
        data = encode(event)
        self._sent(event)
        return data

    def receive(self, message: bytes) -> list:
        """The events in one WebSocket message from the peer; ``RemoteProtocolError`` for junk or out of turn."""
        event = decode(message, self._incoming)
        self._received(event)
        return [event]

    def _after_answer(self, event) -> None:
        """The gateway answered the hello with ``event`` (sent or received)."""
        welcomed = isinstance(event, Welcome) and not self._check
        self.state = State.OPEN if welcomed else State.CLOSED


class AgentConnection(_Connection):
    """The agent's side (``agents.runtime``, ``agents.doctor``)."""

    _incoming = GATEWAY_TO_AGENT

    def _may_send(self, event) -> bool:
        if self.state is State.HELLO:
            return isinstance(event, Hello)
        return self.state is State.OPEN and isinstance(event, (Heartbeat, StreamFailed))

    def _sent(self, event) -> None:
        if isinstance(event, Hello):
            self._check = event.mode == "check"
            self.state = State.WELCOME

    def _received(self, event) -> None:
        if self.state is State.WELCOME:
            if not isinstance(event, (Welcome, Refused)):
                raise RemoteProtocolError("expected welcome", event)
            self._after_answer(event)
        elif self.state is not State.OPEN or isinstance(event, Welcome):
            raise RemoteProtocolError(f"unexpected {type(event).__name__}", event)


class GatewayConnection(_Connection):
    """The gateway's side of one agent's control channel (``gateway.ws.agent_control``)."""

    _incoming = AGENT_TO_GATEWAY

    def _may_send(self, event) -> bool:
        if self.state is State.WELCOME:
            return isinstance(event, (Welcome, Refused))
        return self.state is State.OPEN and isinstance(event, (OpenStream, Refused, Reconnect, RetryVnc, Wake,
                                                                   OpenFiles))

    def _sent(self, event) -> None:
        if self.state is State.WELCOME:
            self._after_answer(event)

    def _received(self, event) -> None:
        if self.state is State.HELLO:
            if not isinstance(event, Hello):
                raise RemoteProtocolError("expected hello", event)
            self._check = event.mode == "check"
            self.state = State.WELCOME
        elif isinstance(event, Hello):
            raise RemoteProtocolError("unexpected hello", event)
        elif self.state is not State.OPEN:
            raise RemoteProtocolError(f"unexpected {type(event).__name__} in state {self.state.name}", event)
