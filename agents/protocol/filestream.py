"""The file stream, sans-IO: what travels on ``/ws/agent/files/<transfer>`` after ``Attach``.

A file transfer never rides inside RFB: the gateway asks the agent on the
control channel (``control.OpenFiles``) to open a WebSocket of its own, the
agent attaches it with the one-time token, and from then on each WebSocket
message is one of these, told apart by its first byte::

    b"D" + bytes          a piece of the file (at most ``CHUNK`` bytes of it)
    b"E"                  the end of the file: every piece was sent
    b"J" + JSON object    a header, the agent's verdict, or a listing

Conversations (``op`` of ``OpenFiles``)::

    upload:    gateway ─ Data* End ─▶ agent      agent ─▶ Saved(name, size) | Failed(code, message)
    download:  agent ─▶ Header(name, size) Data* End      | Failed(code, message)
    list:      agent ─▶ Listing(folders, files)           | Failed(code, message)

Cancel is a close without ``End``: the agent deletes the partial upload, and
the gateway ends the browser's download short, which the browser reports as a
failed download.

Resuming (an upload whose ``OpenFiles.upload`` names a key)::

    agent ─▶ Header(name, size, offset=bytes it has, resumable=true)
    gateway ─ From(offset) Data* End ─▶ agent      (go on from ``offset`` ≤ what it has)
    gateway ─ Discard ─▶ agent                     (the person cancelled: drop the part)
    gateway closes                                 (asked how far it got, or broke: keep it)

An agent that does not resume answers a plain ``Header`` (no ``resumable``): the
gateway then sends the whole file as before, never ``From`` or ``Discard``. Every string is cleaned (``text.clean``) and bounded; junk
raises ``FileStreamError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import FileStreamError
from .jsonobject import load_object
from .text import clean

#: Bytes of file per message: small enough for every hop's message limit, large enough
#: that framing costs nothing.
CHUNK = 64 * 1024
MAX_JSON = 512 * 1024
MAX_FILES = 1000
MAX_TEXT = 1024
#: Failure codes the agent sends; the gateway maps each to an HTTP answer.
FAILURES = frozenset({"too_large", "not_found", "bad_name", "refused", "io", "incomplete"})


@dataclass(frozen=True)
class Data:
    data: bytes


@dataclass(frozen=True)
class End:
    pass


@dataclass(frozen=True)
class Header:
    name: str
    size: int
    offset: int = 0          # a resumable upload: the bytes the agent already has
    resumable: bool = False


@dataclass(frozen=True)
class From:
    """Gateway → agent, a resumable upload: the pieces that follow start at ``offset``."""

    offset: int


@dataclass(frozen=True)
class Discard:
    """Gateway → agent, a resumable upload: the person cancelled it; drop what was received."""


@dataclass(frozen=True)
class Saved:
    name: str
    size: int


@dataclass(frozen=True)
class Failed:
    code: str
    message: str


@dataclass(frozen=True)
class Entry:
    folder: int
    name: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Listing:
    folders: tuple[str, ...]
    files: tuple[Entry, ...]


def data(piece: bytes) -> bytes:
    return b"D" + bytes(piece)


END = b"E"


def encode(event) -> bytes:
    """The bytes of one message carrying ``event``."""
    if isinstance(event, Data):
        return data(event.data)
    if isinstance(event, End):
        return END
    if isinstance(event, Header):
        obj = {"type": "header", "name": event.name, "size": event.size}
        if event.resumable:
            obj.update(offset=event.offset, resumable=True)
    elif isinstance(event, From):
        obj = {"type": "from", "offset": event.offset}
    elif isinstance(event, Discard):
        obj = {"type": "discard"}
    elif isinstance(event, Saved):
        obj = {"type": "saved", "name": event.name, "size": event.size}
    elif isinstance(event, Failed):
        obj = {"type": "failed", "code": event.code, "message": event.message}
    elif isinstance(event, Listing):
        obj = {"type": "listing", "folders": list(event.folders),
               "files": [{"folder": e.folder, "name": e.name, "size": e.size, "mtime": e.mtime}
                         for e in event.files]}
    else:
        raise FileStreamError(f"not a file-stream event: {event!r}")
    return b"J" + json.dumps(obj, separators=(",", ":")).encode()


def decode(message: bytes):
    """The event in one message, or ``FileStreamError``."""
    if not isinstance(message, (bytes, bytearray)) or not message:
        raise FileStreamError("empty file-stream message")
    kind, body = message[:1], message[1:]
    if kind == b"D":
        if len(body) > CHUNK:
            raise FileStreamError(f"file piece larger than {CHUNK} bytes")
        return Data(bytes(body))
    if kind == b"E":
        if body:
            raise FileStreamError("end marker with a body")
        return End()
    if kind != b"J":
        raise FileStreamError(f"unknown file-stream message {bytes(kind)!r}")
    obj = load_object(body, limit=MAX_JSON, error=FileStreamError, what="file-stream message")
    kind = obj.get("type")
    if kind == "header":
        if obj.get("resumable") is True:
            return Header(_text(obj, "name"), _size(obj, "size"), _size(obj, "offset"), True)
        return Header(_text(obj, "name"), _size(obj, "size"))
    if kind == "from":
        return From(_size(obj, "offset"))
    if kind == "discard":
        return Discard()
    if kind == "saved":
        return Saved(_text(obj, "name"), _size(obj, "size"))
    if kind == "failed":
        code = _text(obj, "code")
        return Failed(code if code in FAILURES else "io", _text(obj, "message"))
    if kind == "listing":
        return _listing(obj)
    raise FileStreamError(f"unknown file-stream message type {kind!r}")


def _text(obj: dict, name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise FileStreamError(f"field {name!r} must be a string of at most {MAX_TEXT} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FileStreamError(f"field {name!r} is not valid Unicode") from None
    return clean(value)


def _size(obj: dict, name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise FileStreamError(f"field {name!r} must be a byte count")
    return value


def _listing(obj: dict) -> Listing:
    folders, files = obj.get("folders"), obj.get("files")
    if not isinstance(folders, list) or len(folders) > 64:
        raise FileStreamError("field 'folders' must be a list of at most 64")
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise FileStreamError(f"field 'files' must be a list of at most {MAX_FILES}")
    names = tuple(_text({"f": f}, "f") for f in folders)
    entries = []
    for item in files:
        if not isinstance(item, dict):
            raise FileStreamError("a listed file must be an object")
        folder = _size(item, "folder")
        if folder >= len(names):
            raise FileStreamError("a listed file names a folder not in the listing")
        mtime = item.get("mtime")
        if not isinstance(mtime, (int, float)) or isinstance(mtime, bool) or mtime != mtime:
            raise FileStreamError("field 'mtime' must be a number")
        entries.append(Entry(folder, _text(item, "name"), _size(item, "size"), float(mtime)))
    return Listing(names, tuple(entries))
