"""Files between the viewer and the office PC: the agent's file stream, asked for and relayed.

A transfer never rides inside RFB. The gateway asks the PC's agent on the
control channel (``control.OpenFiles``, through the node holding it:
``nodebus.OpenFiles``) to open ``/ws/agent/files/<transfer>``, waits for it
to attach with its one-time token (``ws.agent_files`` → ``attach``), and then
speaks ``filestream`` on it while the HTTP request that asked (``api.files``)
streams the bytes to or from the browser — piece by piece, so no file is ever
held in memory. Like a session's stream, a file stream may land on any node:
the ``streamwait`` marker names the node whose request waits, and the node it
landed on forwards it there (``peering.Forward``).

Who may: ``machine_for_user`` (as for opening the PC) and the PC's policy
(``policy.Decision.file_transfer``, decided in ``api.files``). Every transfer is
audited (``audit_transfer``), refused and cancelled ones too.

Errors: ``AgentUnavailable`` (no agent answered), ``TransferRefused``
(the agent or a limit said no: ``code`` and the sentence for the person).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field

import gevent
import gevent.event

from agents.protocol import control
from agents.protocol import filestream as fs
from agents.protocol.text import ELLIPSIS, clean
from agents.websocket import FramingError

from . import nodebus
from .errors import AgentUnavailable, TransferRefused
from .live import LiveStoreError
from .security import hash_token, new_token, token_matches

log = logging.getLogger(__name__)

UPLOAD, DOWNLOAD = "upload", "download"
#: Seconds the gateway waits for the agent's answer to a whole upload (its last piece written).
ANSWER_TIMEOUT = 60.0


@dataclass(eq=False)
class TransferSlot:
    """One transfer waiting on this node for its agent's file stream."""

    transfer: str
    machine_id: int
    token_hash: str
    #: Set once: the attached stream ``(ws, released)`` or ``AgentUnavailable``.
    result: gevent.event.AsyncResult = field(default_factory=gevent.event.AsyncResult)


class FileStream:
    """An attached file stream; ``close()`` lets its route's greenlet (and socket) go."""

    def __init__(self, ws, released: gevent.event.Event):
        self.ws = ws
        self.released = released

    def read(self):
        """The next ``filestream`` event, or ``None`` if the agent closed the stream."""
        message = self.ws.read_message()
        return None if message is None else fs.decode(message)

    def close(self, reason: str = "transfer ended") -> None:
        try:
            self.ws.close_with(1000, reason)
        finally:
            self.released.set()


def open_stream(hub, machine_id: int, op: str, *, folder: int = 0, name: str = "", size: int = 0,
                upload: str = "") -> FileStream:
    """Ask the machine's agent for a file stream and wait for it (``stream_timeout``).

    Raises ``AgentUnavailable`` if no agent holds the PC or none attached in time.
    """
    settings = hub.settings
    if hub.draining:
        raise AgentUnavailable(machine_id)
    transfer, token = uuid.uuid4().hex, new_token(32)
    slot = TransferSlot(transfer, machine_id, hash_token(token))
    hub.transfers[transfer] = slot  # first: the stream may arrive while we still talk to Redis
    event = control.OpenFiles(transfer=transfer, token=token, op=op, folder=folder, name=name, size=size,
                              upload=upload)
    try:
        try:
            hub.live.stream_waiting(transfer, settings.node_id, hub.waiting_ttl())
        except LiveStoreError as exc:  # only a detour through another node would miss its way
            log.warning("stream marker of transfer %s not written: %s", transfer, exc)
        channel = hub.channels.get(machine_id)
        try:
            if channel is not None:
                channel.send(event)
            else:
                _ask_remote(hub, machine_id, event)
        except OSError as exc:
            raise AgentUnavailable(machine_id) from exc
        try:
            ws, released = slot.result.get(timeout=settings.stream_timeout)
        except gevent.Timeout:
            if slot.result.ready() and slot.result.successful():
                # Attached in the instant we gave up (no yield between the two): let it go.
                FileStream(*slot.result.get()).close("The gateway gave up waiting")
            raise AgentUnavailable("The PC did not answer in time") from None
        return FileStream(ws, released)
    finally:
        hub.transfers.pop(transfer, None)


def _ask_remote(hub, machine_id: int, event: control.OpenFiles) -> None:
    live = hub.live
    try:
        agent = live.agent(machine_id)
        node = (agent or {}).get("node")
        if not node or node == hub.settings.node_id or not live.node_address(node):
            raise AgentUnavailable(machine_id)
        command = nodebus.OpenFiles(machine_id, event.transfer, event.token, event.op, event.folder,
                                    event.name, event.size, event.upload)
        if live.publish(node, command) == 0:
            raise AgentUnavailable(machine_id)
    except LiveStoreError as exc:
        raise AgentUnavailable(machine_id) from exc


def claim(hub, transfer: str, token: str) -> TransferSlot | None:
    """The waiting transfer if ``token`` is the one sent for it; one use only."""
    slot = hub.transfers.get(transfer)
    if slot is None or slot.result.ready() or not token_matches(slot.token_hash, token):
        return None
    return slot


# -- the gateway's side of filestream ------------------------------------------------------------------

def _answer(stream: FileStream, expected: type, what: str):
    """The agent's one answer of type ``expected`` (a ``Failed`` or anything else:
    ``TransferRefused``). Uploads, downloads and listings all wait for one such answer."""
    try:
        event = stream.read()
    except (OSError, FramingError, fs.FileStreamError) as exc:
        raise TransferRefused("io", f"The PC's agent broke off the {what}: {exc}") from None
    if isinstance(event, fs.Failed):
        raise TransferRefused(event.code, event.message)
    if not isinstance(event, expected):
        raise TransferRefused("io", f"The PC's agent did not answer the {what}.")
    return event


def first_answer(stream: FileStream) -> fs.Header:
    """The agent's ``Header`` (what it will save or send), or ``TransferRefused``."""
    return _answer(stream, fs.Header, "transfer")


def send_file(stream: FileStream, pieces, size: int, *, header: fs.Header | None = None,
              offset: int = 0) -> fs.Saved:
    """Send ``pieces`` (bytes, at most ``CHUNK`` each, ``size`` in all) and ``End``; the agent's ``Saved``.

    A resumable upload (``header.resumable``): ``From(offset)`` first, ``pieces`` being the file
    from ``offset`` on. Raises ``TransferRefused`` when the agent refuses on the way or at the
    end, ``incomplete`` when ``pieces`` ends short (the browser went away: the agent drops its
    part file, or keeps it when resumable) or when an agent that cannot resume is asked to.
    """
    sent = 0
    if header is not None and header.resumable:
        try:
            stream.ws.write_message(fs.encode(fs.From(offset)))
        except (OSError, FramingError) as exc:
            raise TransferRefused("io", f"The PC's agent broke off the transfer: {exc}") from None
    elif offset:
        raise TransferRefused("incomplete", "The PC cannot resume uploads: send the file again from the start.")
    try:
        for piece in pieces:
            stream.ws.write_message(fs.data(piece))
            sent += len(piece)
    except (OSError, FramingError):
        # The agent closed on us (it refused mid-way, e.g. its disk is full): its reason, if it gave one.
        _refusal_if_any(stream)
        raise TransferRefused("io", "The PC's agent broke off the transfer.") from None
    if sent != size:
        raise TransferRefused("incomplete", f"The upload ended after {sent} of {size} bytes.")
    try:
        stream.ws.write_message(fs.END)
        stream.ws.settimeout(ANSWER_TIMEOUT)
    except (OSError, FramingError) as exc:
        raise TransferRefused("io", f"The PC's agent broke off the transfer: {exc}") from None
    return _answer(stream, fs.Saved, "transfer")


def discard(stream: FileStream, header: fs.Header) -> None:
    """Tell the agent to drop a resumable upload's part file (after its ``Header``)."""
    if header.resumable:
        try:
            stream.ws.write_message(fs.encode(fs.Discard()))
        except (OSError, FramingError):
            pass  # gone already: its part file is swept later


def _refusal_if_any(stream: FileStream) -> None:
    try:
        stream.ws.settimeout(2)
        event = stream.read()
    except (OSError, FramingError, fs.FileStreamError):
        return
    if isinstance(event, fs.Failed):
        raise TransferRefused(event.code, event.message)


def receive_file(stream: FileStream, size: int):
    """The file's pieces as the agent sends them; ``TransferRefused('incomplete')`` if it stops short."""
    got = 0
    while True:
        try:
            event = stream.read()
        except (OSError, FramingError, fs.FileStreamError) as exc:
            raise TransferRefused("incomplete", f"The PC's agent broke off the transfer: {exc}") from None
        if isinstance(event, fs.Data):
            got += len(event.data)
            if got > size:
                raise TransferRefused("incomplete", "The PC sent more than the file holds.")
            yield event.data
        elif isinstance(event, fs.End) and got == size:
            return
        else:
            raise TransferRefused("incomplete", f"The file ended after {got} of {size} bytes.")


def listing(stream: FileStream) -> fs.Listing:
    return _answer(stream, fs.Listing, "listing")


#: Characters of JSON each text of a transfer's audit row may take: with the keys and the size
#: they fit the 512 of ``AuditEvent.detail``, so a row is never cut mid-JSON.
_ROOM = {"name": 150, "asked": 150, "outcome": 120}


def shown(value: str, room: int) -> str:
    """Text from a browser or an agent as an audit row keeps it: without control or bidi
    characters (``text.clean``), cut (ending ``…``) to ``room`` characters of JSON, where each
    ``"`` and ``\\`` takes two. Pages escape it as any other text."""
    value = clean(value)
    if len(value) + value.count('"') + value.count("\\") <= room:
        return value
    kept, used = [], len(ELLIPSIS)
    for ch in value:
        used += 2 if ch in '"\\' else 1
        if used > room:
            break
        kept.append(ch)
    return "".join(kept) + ELLIPSIS


def audit_transfer(direction: str, *, actor: str, ip: str, machine: str, name: str, size: int,
                   outcome: str, asked: str | None = None) -> None:
    """One audit row per transfer (its own transaction: a transfer ends long after its request began).

    ``name`` is the file's name on the PC (as saved or sent), ``asked`` the one the person gave
    (``?name=``); the row carries ``asked`` too when it reads otherwise — a hostile name
    (``../../x``, ``CON.txt``) is what an admin reading the audit needs to see. Both are
    attacker text, kept as ``shown``.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from .extensions import db
    from .models import audit

    fields = {"name": shown(name, _ROOM["name"]), "size": size, "outcome": shown(outcome, _ROOM["outcome"])}
    given = None if asked is None else shown(asked, _ROOM["asked"])
    if given is not None and given != fields["name"]:
        fields["asked"] = given
    detail = json.dumps(fields, ensure_ascii=False)
    try:
        audit(f"file.{direction}", actor=actor, ip=ip, target=machine, detail=detail)
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("file %s of %r on %s not audited: %s (%s)", direction, name, machine, exc, detail)
