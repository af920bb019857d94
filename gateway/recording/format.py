"""The recording file format, sans I/O: bytes in, bytes out (docs/recording-format.md).

A file is a header, then chunks, then (if the recording was closed, not cut
short by a crash) an end block::

    header  b"PONTEREC" u16 version u32 n  n bytes of JSON (session, machine, user, started, …)
    chunk   b"C" u32 first_ms u32 last_ms u32 raw_len u32 packed_len  packed_len bytes of zlib
            (or b"S", the same header, and the raw bytes stored as they are)
    end     b"E" u32 n  n bytes of JSON (duration_ms, stopped: why recording stopped early, or "")

A chunk's raw bytes are records ``u32 elapsed_ms, u8 direction, u32 length,
length bytes``; direction 0 is PC→viewer (the RFB stream as the viewer got
it, from the agent's ProtocolVersion on). Integers are big-endian. Each
chunk is compressed on its own, so a reader can skip any chunk by its
header: the chunk headers are the index of time → file offset, and a file
cut short is readable up to its last whole chunk.
"""

# Over 300 lines: the format's writing side (header, Packer, ChunkBuilder) and reading side
# (parse_header, scan, records) are one layout, and are read together so that they stay in step.

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import RecordingFormatError

MAGIC = b"PONTEREC"
VERSION = 1
PC_TO_VIEWER = 0

_HEADER = struct.Struct(">8sHI")
_CHUNK = struct.Struct(">cIIII")
_END = struct.Struct(">cI")
_RECORD = struct.Struct(">IBI")

#: A chunk is sealed at this many raw bytes or this many ms after its first
#: record, whichever comes first: a crash loses at most about a second, and
#: the index has about a second's resolution.
CHUNK_BYTES = 256 * 1024
CHUNK_MS = 1000
#: Limits a reader checks before it allocates (a damaged or hostile file).
MAX_JSON = 64 * 1024
MAX_CHUNK = 64 * 1024 * 1024


#: Not a recording, or damaged before its first chunk (the gateway's one exception tree).
FormatError = RecordingFormatError


@dataclass(frozen=True)
class Record:
    ms: int
    direction: int
    data: bytes


@dataclass(frozen=True)
class ChunkEntry:
    """One line of the index: where a chunk is and which times it covers."""

    offset: int
    first_ms: int
    last_ms: int
    raw_len: int
    packed_len: int
    #: An "S" chunk: the body is the records as they are, not zlib.
    stored: bool = False


def header(meta: dict) -> bytes:
    body = json.dumps(meta, separators=(",", ":")).encode()
    return _HEADER.pack(MAGIC, VERSION, len(body)) + body


def end(duration_ms: int, stopped: str = "") -> bytes:
    body = json.dumps({"duration_ms": duration_ms, "stopped": stopped}, separators=(",", ":")).encode()
    return _END.pack(b"E", len(body)) + body


#: A chunk that deflate shrinks by less than this is data compressed already (the PC's Tight,
#: ZRLE or JPEG rectangles: video): the next STORE_CHUNKS are stored ("S" chunks: the raw bytes,
#: no zlib call at all) instead of spending a core on deflating what does not shrink.
WORTH = 0.9
STORE_CHUNKS = 16
#: The slice of a chunk deflated first to tell whether the whole is worth deflating.
PROBE_BYTES = 16 * 1024


class Packer:
    """Compresses sealed chunks (the slow half: the recorder runs it in a thread)."""

    def __init__(self, level: int = 6):
        self.level = level
        self._store = 0  # chunks still to store without deflating (see WORTH)

    def pack(self, first_ms: int, last_ms: int, raw, hurry: bool = False) -> tuple[bytes, bytes]:
        """The chunk's header and body (two pieces: no copy to join them).

        ``hurry``: store without deflating (a writer falling behind keeps up at memory speed)."""
        if not (self._store or hurry) and len(raw) > 2 * PROBE_BYTES:
            # A slice first: deflating a whole chunk of noise to learn it is noise costs more
            # than storing the next STORE_CHUNKS of them.
            probe = memoryview(raw)[len(raw) // 2:len(raw) // 2 + PROBE_BYTES]
            if len(zlib.compress(probe, self.level)) > WORTH * PROBE_BYTES:
                self._store = STORE_CHUNKS + 1
        if self._store or hurry:
            self._store = max(0, self._store - 1)
            return _CHUNK.pack(b"S", first_ms, last_ms, len(raw), len(raw)), raw
        packed = zlib.compress(raw, self.level)
        if len(packed) > WORTH * len(raw):
            self._store = STORE_CHUNKS
        return _CHUNK.pack(b"C", first_ms, last_ms, len(raw), len(packed)), packed


#: Bytes of written chunks' buffers a builder keeps to build the next ones in
#: (``ChunkBuilder.give_back``): enough for the chunks a busy writer has in hand at once.
SPARE_BYTES = 16 * 1024 * 1024


class ChunkBuilder:
    """Collects records into one buffer; ``due`` says when to ``take`` (or ``seal``) them as a chunk.

    ``add_pieces`` copies the pieces straight into the buffer: the one copy the
    recorder makes on the relay's greenlet. The buffers are reused: a chunk
    taken is a view of its buffer, and once it is written ``give_back`` hands
    the buffer to the chunks that follow. Measured per thread of the gateway
    (a saturated stream recorded, ``bench recording``'s stack): a fresh
    ``bytearray`` per chunk, grown piece by piece, had the relay's thread spend
    about 0.3–0.5 s of kernel time per GB more than with recording off
    (memory faulted in and handed back, chunk after chunk) and as much again
    in reallocating copies."""

    def __init__(self, level: int = 6):
        self.packer = Packer(level)
        self._buf = bytearray()
        self._n = 0  # bytes of records in the buffer (the buffer may be longer: reused)
        self._spare: list[bytearray] = []
        self.first_ms = -1
        self.last_ms = 0

    def add(self, ms: int, data: bytes, direction: int = PC_TO_VIEWER) -> None:
        self.add_pieces(ms, (data,), len(data), direction)

    def add_pieces(self, ms: int, pieces, n: int, direction: int = PC_TO_VIEWER) -> None:
        if self.first_ms < 0:
            self.first_ms = ms
        self.last_ms = ms
        pos = self._n
        end = pos + _RECORD.size + n
        buf = self._buf if end <= len(self._buf) else self._grow(end)
        _RECORD.pack_into(buf, pos, ms, direction, n)
        pos += _RECORD.size
        for piece in pieces:
            k = len(piece)
            buf[pos:pos + k] = piece  # same length: a memcpy, never a reallocation
            pos += k
        self._n = pos

    def _grow(self, need: int) -> bytearray:
        size = max(need, 2 * len(self._buf))  # doubling: a buffer grows a few times, then is reused
        try:
            self._buf.extend(bytes(size - len(self._buf)))
        except BufferError:  # a view of it still alive somewhere: build in a new one
            grown = bytearray(size)
            grown[:self._n] = memoryview(self._buf)[:self._n]
            self._buf = grown
        return self._buf

    @property
    def raw_len(self) -> int:
        return self._n

    @property
    def empty(self) -> bool:
        return not self._n

    def due(self, now_ms: int) -> bool:
        return not self.empty and (self.raw_len >= CHUNK_BYTES or now_ms - self.first_ms >= CHUNK_MS)

    def take(self) -> tuple[int, int, memoryview]:
        """``(first_ms, last_ms, raw records)`` of the chunk so far; the builder starts over.

        The records are a view of the builder's buffer: ``give_back`` it once written."""
        buf = self._buf
        out = (self.first_ms, self.last_ms, memoryview(buf)[:self._n])
        if self._spare:
            self._buf = self._spare.pop()
        else:  # as large as the last: one allocation, not a chain of them as it grows again
            self._buf = bytearray(len(buf))
        self._n, self.first_ms, self.last_ms = 0, -1, 0
        return out

    def give_back(self, raw: memoryview) -> None:
        """A taken chunk's records, written: its buffer builds the next chunks (any thread may call)."""
        buf = raw.obj
        raw.release()
        try:
            buf.append(0)  # a resize: refused while any other view of the buffer lives (a reader not done)
        except BufferError:
            return  # let that reader keep it
        del buf[-1]
        # No shared byte counter (two threads): the buffers of one session are about the same size.
        if (len(self._spare) + 1) * len(buf) <= SPARE_BYTES:
            self._spare.append(buf)

    def seal(self) -> bytes:
        """The chunk's bytes (header and compressed body); the builder starts over."""
        head, body = self.packer.pack(*self.take())
        return head + body


@dataclass(frozen=True)
class Parsed:
    meta: dict
    index: list[ChunkEntry]
    #: The end block's contents; None if the file was cut short (crash, node lost).
    ending: dict | None


def parse_header(data: bytes) -> tuple[dict, int]:
    """The header's metadata and its length in bytes."""
    if len(data) < _HEADER.size:
        raise FormatError("too short for a recording header")
    magic, version, n = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FormatError("not a Ponte recording")
    if version != VERSION:
        raise FormatError(f"recording format version {version} is not known here")
    if n > MAX_JSON or len(data) < _HEADER.size + n:
        raise FormatError("damaged recording header")
    try:
        meta = json.loads(data[_HEADER.size:_HEADER.size + n])
    except ValueError as exc:
        raise FormatError("damaged recording header") from exc
    return meta, _HEADER.size + n


def scan(read_at) -> Parsed:
    """The metadata, the index and the end of a file; a cut-off or damaged tail is ignored.

    ``read_at(offset, n)`` returns up to ``n`` bytes at ``offset`` (a file's
    ``pread``, or a slice of bytes in memory: ``from_bytes``); only the
    headers are read, every chunk's body is skipped.
    """
    first = read_at(0, _HEADER.size)
    if len(first) < _HEADER.size:
        raise FormatError("too short for a recording header")
    _, _, n = _HEADER.unpack(first)
    meta, pos = parse_header(first + read_at(_HEADER.size, min(n, MAX_JSON)))
    index: list[ChunkEntry] = []
    ending = None
    while True:
        head = read_at(pos, _CHUNK.size)
        tag = head[:1]
        if tag in (b"C", b"S") and len(head) == _CHUNK.size:
            _, first_ms, last_ms, raw_len, packed_len = _CHUNK.unpack(head)
            if packed_len > MAX_CHUNK or raw_len > MAX_CHUNK or (tag == b"S" and packed_len != raw_len):
                break
            # The body must be there whole: its last byte is readable.
            if packed_len and len(read_at(pos + _CHUNK.size + packed_len - 1, 1)) != 1:
                break
            index.append(ChunkEntry(pos, first_ms, last_ms, raw_len, packed_len, tag == b"S"))
            pos += _CHUNK.size + packed_len
        elif tag == b"E" and len(head) >= _END.size:
            _, n = _END.unpack_from(head)
            try:
                ending = json.loads(read_at(pos + _END.size, min(n, MAX_JSON)))
            except ValueError:
                ending = None
            break
        else:
            break  # the end of a file cut short, or damage: what came before still plays
    return Parsed(meta, index, ending)


def from_bytes(data: bytes):
    """``read_at`` over a whole file's bytes in memory."""
    return lambda offset, n: data[offset:offset + n]


def chunk_raw(read_at, entry: ChunkEntry) -> bytes:
    """The uncompressed records of the chunk ``entry``."""
    body = read_at(entry.offset + _CHUNK.size, entry.packed_len)
    if entry.stored:
        if len(body) != entry.raw_len:
            raise FormatError("damaged chunk")
        return body
    try:
        raw = zlib.decompress(body)
    except zlib.error as exc:
        raise FormatError("damaged chunk") from exc
    if len(raw) != entry.raw_len:
        raise FormatError("damaged chunk")
    return raw


def raw_records(raw: bytes) -> Iterator[Record]:
    pos = 0
    while pos + _RECORD.size <= len(raw):
        ms, direction, n = _RECORD.unpack_from(raw, pos)
        pos += _RECORD.size
        yield Record(ms, direction, raw[pos:pos + n])
        pos += n


def records(read_at) -> Iterator[Record]:
    """Every record of a file, in order."""
    for entry in scan(read_at).index:
        yield from raw_records(chunk_raw(read_at, entry))


def duration_ms(parsed: Parsed) -> int:
    if parsed.ending and isinstance(parsed.ending.get("duration_ms"), int):
        return parsed.ending["duration_ms"]
    return parsed.index[-1].last_ms if parsed.index else 0


def idle_periods(index: list[ChunkEntry], min_ms: int = 5000) -> list[tuple[int, int]]:
    """Gaps of at least ``min_ms`` between chunks (nothing changed on screen): a player jumps them."""
    return [(before.last_ms, after.first_ms) for before, after in zip(index, index[1:])
            if after.first_ms - before.last_ms >= min_ms]
