"""The node bus, sans-IO: commands gateway nodes send each other over Redis pub/sub.

Each pub/sub message (channel ``node:<id>`` for one node, ``nodes`` for all,
DESIGN.md §3) carries one JSON object whose ``cmd`` names the command. This
module turns typed, frozen commands into those bytes and bytes back into
commands, validating every field; it never touches Redis. Whoever publishes
builds a command here, the hub's listener decodes and applies it
(``Hub.handle_command``), so the two ends cannot drift apart.

Commands::

    EndSession(session, reason)             end one session (admin, CLI, lost access)
    RevokeMachine(machine_id, reason)       end a machine's sessions and drop its agent
    EndUser(user_id, reason)                end every session of a person
    EndOrganisation(organisation_id, reason)  drop a disabled firm's agents (issue 17)
    OpenStream(machine_id, session, token, organisation_id)  ask the node holding the agent for a stream
    RetryVnc(machine_id)                    ask the agent to log in to its VNC server again
    StreamFailed(machine_id, session, reason)  the agent could not serve a session
                                            whose viewer waits on the receiving node
    Wake(machine_id, mac, broadcast)        ask the agent of ``machine_id`` (a neighbour of the
                                            sleeping PC) to send the magic packet for ``mac``
    OpenFiles(machine_id, transfer, token, op, folder, name, size, upload)
                                            ask the node holding the agent for a file stream

Anything else — not JSON, not an object, an unknown ``cmd``, a field of the
wrong type or too long — raises ``NodeBusError``: the listener logs it and
drops the message, never a crash.

Exceptions::

    NodeBusError (GatewayError)   a message that is not a valid node command
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Union

from agents.protocol.jsonobject import load_object

from .errors import NodeBusError

#: Longest message and string field a node accepts from the bus.
MAX_MESSAGE = 8 * 1024
MAX_TEXT = 1024
MAX_ID = 128


@dataclass(frozen=True)
class EndSession:
    session: str
    reason: str = "Ended by an admin"


@dataclass(frozen=True)
class RevokeMachine:
    machine_id: int
    reason: str = "Machine revoked"


@dataclass(frozen=True)
class EndUser:
    user_id: int
    reason: str = "Account disabled"


@dataclass(frozen=True)
class EndOrganisation:
    organisation_id: int
    reason: str = "This organisation was disabled by its provider"


@dataclass(frozen=True)
class OpenStream:
    machine_id: int
    session: str
    token: str
    #: The session's firm (issue 17): the agent's node checks its agent is that firm's.
    organisation_id: int = 1


@dataclass(frozen=True)
class RetryVnc:
    machine_id: int


@dataclass(frozen=True)
class StreamFailed:
    machine_id: int
    session: str
    reason: str = ""


@dataclass(frozen=True)
class Wake:
    machine_id: int  # the neighbour whose agent sends the packet, not the sleeping PC
    mac: str
    broadcast: str


@dataclass(frozen=True)
class OpenFiles:
    machine_id: int
    transfer: str
    token: str
    op: str
    folder: int = 0
    name: str = ""
    size: int = 0
    upload: str = ""  # a resumable upload's key (``control.OpenFiles``)


Command = Union[EndSession, RevokeMachine, EndUser, EndOrganisation, OpenStream, RetryVnc, StreamFailed, Wake,
                OpenFiles]

#: The ``cmd`` of each command on the wire (unchanged since the bus carried raw dicts).
COMMANDS = {"end": EndSession, "revoke": RevokeMachine, "end_user": EndUser, "open": OpenStream,
            "vnc_retry": RetryVnc, "stream_failed": StreamFailed, "wake": Wake,
            "open_files": OpenFiles, "end_organisation": EndOrganisation}
_NAME_OF = {cls: name for name, cls in COMMANDS.items()}
#: Fields that are identifiers (bounded tighter than free text).
_IDS = frozenset({"session", "token", "mac", "broadcast", "transfer", "op", "upload"})
#: Fields that are counts (a folder's number, a file's size).
_COUNTS = frozenset({"folder", "size"})


def encode(command: Command) -> bytes:
    """The bytes of one pub/sub message carrying ``command``."""
    try:
        name = _NAME_OF[type(command)]
    except KeyError:
        raise NodeBusError(f"not a node command: {command!r}") from None
    return json.dumps({"cmd": name, **asdict(command)}, separators=(",", ":")).encode()


def decode(message: bytes | str) -> Command:
    """The command in one pub/sub message, or ``NodeBusError``."""
    obj = load_object(message, limit=MAX_MESSAGE, error=NodeBusError, what="node message", text=True)
    name = obj.get("cmd")
    cls = COMMANDS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise NodeBusError(f"unknown node command {name!r}")
    values = {}
    for f in fields(cls):
        if f.name not in obj:
            if f.default is MISSING:
                raise NodeBusError(f"{name}: field {f.name!r} missing")
            continue
        values[f.name] = _field(name, f.name, obj[f.name])
    return cls(**values)


def _field(command: str, field: str, value):
    if field.endswith("_id") or field in _COUNTS:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
            raise NodeBusError(f"{command}: field {field!r} must be a record id")
        return value
    if not isinstance(value, str):
        raise NodeBusError(f"{command}: field {field!r} must be a string")
    limit = MAX_ID if field in _IDS else MAX_TEXT
    if len(value) > limit:
        raise NodeBusError(f"{command}: field {field!r} longer than {limit}")
    return value
