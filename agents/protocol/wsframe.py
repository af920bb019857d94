"""The WebSocket frame codec (RFC 6455 §5): headers, masking, close codes. Pure: bytes only.

Shared by the one I/O driver (``agents.websocket``) and the cut-through
parser (``cutthrough``). Masking (§5.3) XORs aligned 64-bit words with numpy,
in place, in a reused ``FrameBuffer``; without numpy (a pure-Python agent
install) one big-int XOR per span does it (~300 MB/s, plenty for an office
PC's VNC traffic).

Errors: ``FramingError`` (``code``: the close to send) and ``MessageTooBig``
(1009); the tree is drawn once, in ``errors.py``.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from .errors import FramingError, MessageTooBig

try:
    import numpy
except ImportError:
    numpy = None

DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024
READ_SIZE = 256 * 1024  # one read; a 1 MiB frame costs a handful of reads, not hundreds
HEADROOM = 16  # room for the longest header (14 bytes); keeps payloads 8-byte aligned
SMALL_XOR = 64  # below this a big-int XOR beats setting up numpy views
MAX_CONTROL_PAYLOAD = 125  # §5.5

__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "HEADROOM",
    "READ_SIZE",
    "CloseCode",
    "FrameBuffer",
    "FrameHeader",
    "FramingError",
    "MessageTooBig",
    "Opcode",
    "encode_header",
    "parse_close",
    "parse_header",
    "xor_into",
    "xor_mask",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (§5.2, §11.8)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(enum.IntEnum):
    """The status codes we send or read (§7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # never on the wire: the peer's close had no code
    ABNORMAL = 1006  # never on the wire: the connection dropped without a close
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


# -- headers (§5.2) ---------------------------------------------------------------------------------

class FrameHeader(NamedTuple):
    """One decoded frame header (immutable); the payload follows at ``header_length``.

    A named tuple rather than a frozen dataclass: the relay decodes one per frame, and a tuple
    is built several times faster.
    """

    fin: bool
    rsv: int  # the three reserved bits (0x70 of the first byte), unshifted
    opcode: int
    length: int  # payload bytes
    mask: bytes | None  # the 4-byte key, or None when unmasked
    header_length: int  # 2..14 bytes, key included

    @property
    def is_control(self) -> bool:
        return self.opcode >= 0x8


def parse_header(buf, pos: int = 0, end: int | None = None) -> FrameHeader | None:
    """The frame header at ``buf[pos:end]``, or ``None`` while it is incomplete.

    Decodes only: whether the frame is allowed (masking, opcodes, control
    frame rules, limits) is the reader's call, see ``check_header``.
    """
    if end is None:
        end = len(buf)
    have = end - pos
    if have < 2:
        return None
    b0, b1 = buf[pos], buf[pos + 1]
    masked = b1 & 0x80
    length = b1 & 0x7F
    hlen = 6 if masked else 2
    if length == 126:
        hlen += 2
        if have < hlen:
            return None
        (length,) = struct.unpack_from(">H", buf, pos + 2)
    elif length == 127:
        hlen += 8
        if have < hlen:
            return None
        (length,) = struct.unpack_from(">Q", buf, pos + 2)
    elif have < hlen:
        return None
    mask = bytes(buf[pos + hlen - 4:pos + hlen]) if masked else None
    return FrameHeader(bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F, length, mask, hlen)


def check_header(header: FrameHeader, *, client: bool, in_message: bool) -> None:
    """Raise ``FramingError`` unless a data-only binary reader may accept ``header``.

    ``client``: we are the client, so frames from the peer must be unmasked
    (§5.1). ``in_message``: a fragmented message is open (§5.4). The reasons
    are websockify's, word for word (its typos too), as peers saw them before.
    """
    if header.rsv:
        raise FramingError("Protocol error: reserved bits set")
    masked = header.mask is not None
    if masked == client:
        raise FramingError("Procotol error: Frame masked" if masked else "Procotol error: Frame not masked")
    opcode = header.opcode
    if opcode >= 0x8:
        if opcode > 0xA:
            raise FramingError("Unsupported: Unknown opcode 0x%02x" % opcode, CloseCode.UNSUPPORTED_DATA)
        if not header.fin or header.length > MAX_CONTROL_PAYLOAD:
            raise FramingError("Protocol error: bad control frame")
    elif opcode == Opcode.TEXT:
        raise FramingError("Unsupported: Text frames are not supported", CloseCode.UNSUPPORTED_DATA)
    elif opcode == Opcode.CONTINUATION and not in_message:
        raise FramingError("Procotol error: Unexpected continuation frame")
    elif opcode == Opcode.BINARY and in_message:
        raise FramingError("Procotol error: Unexpected new frame")
    elif opcode not in (Opcode.CONTINUATION, Opcode.BINARY):
        raise FramingError("Unsupported: Unknown opcode 0x%02x" % opcode, CloseCode.UNSUPPORTED_DATA)


def encode_header(opcode: int, fin: bool, length: int, mask: bytes | None = None) -> bytes:
    """A frame header for a ``length``-byte payload, ending with ``mask`` if given (§5.2)."""
    b0 = (0x80 if fin else 0) | opcode
    bit = 0x80 if mask is not None else 0
    if length < 126:
        head = bytes((b0, bit | length))
    elif length < 65536:
        head = struct.pack(">BBH", b0, bit | 126, length)
    else:
        head = struct.pack(">BBQ", b0, bit | 127, length)
    return head + mask if mask is not None else head


def parse_close(payload: bytes) -> tuple[int | None, str | None]:
    """A close frame's (code, reason) (§5.5.1); ``FramingError`` if the reason is not UTF-8."""
    if len(payload) < 2:
        return None, None
    (code,) = struct.unpack(">H", payload[:2])
    if len(payload) == 2:
        return code, None
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FramingError("Procotol error: Invalid UTF-8 in close") from None


# -- masking (§5.3) ---------------------------------------------------------------------------------

def xor_mask(buf, mask: bytes) -> bytes:
    """``buf`` with a 4-byte WebSocket mask applied, as new bytes."""
    n = len(buf)
    if n == 0:
        return b""
    if numpy is None:
        out = bytearray(buf)
        xor_into(out, 0, n, bytes(mask))
        return bytes(out)
    words = n // 4
    out = bytearray(n)
    if words:
        key = numpy.frombuffer(mask, dtype="<u4", count=1)
        src = numpy.frombuffer(buf, dtype="<u4", count=words)
        numpy.bitwise_xor(src, key, out=numpy.frombuffer(out, dtype="<u4", count=words))
    for i in range(words * 4, n):
        out[i] = buf[i] ^ mask[i % 4]
    return bytes(out)


def xor_into(buf: bytearray, start: int, length: int, key: bytes) -> None:
    """XOR ``buf[start:start+length]`` with ``key`` in place, one big-int operation (no per-byte loop)."""
    if length <= 0:
        return
    end = start + length
    stream = (key * (length // 4 + 1))[:length]
    buf[start:end] = (int.from_bytes(buf[start:end], "little") ^ int.from_bytes(stream, "little")) \
        .to_bytes(length, "little")


def rotate(key: bytes, phase: int) -> bytes:
    """The mask as seen from a byte at ``phase`` (0..3) within the key's cycle."""
    phase &= 3
    return key[phase:] + key[:phase] if phase else key


class FrameBuffer:
    """A reused buffer with numpy views, for in-place masking without copies.

    ``HEADROOM`` bytes in front of ``payload`` take a frame header, so a
    payload read straight into the buffer goes out as one frame.
    """

    def __init__(self, size: int = READ_SIZE):
        self.buf = bytearray(HEADROOM + size + 8)
        self.view = memoryview(self.buf)
        #: where a caller reads a payload to send with ``FramedWebSocket.write_buffer``
        self.payload = self.view[HEADROOM:HEADROOM + size]
        self.size = size
        if numpy is None:
            self._words = None
            return
        addr = numpy.frombuffer(self.buf, dtype=numpy.uint8).ctypes.data
        self._align = (-addr) % 8
        self._words = numpy.frombuffer(self.buf, dtype="<u8", offset=self._align,
                                       count=(len(self.buf) - self._align) // 8)

    def xor(self, start: int, length: int, key: bytes, phase: int = 0) -> None:
        """Mask/unmask ``buf[start:start+length]`` whose first byte is at mask ``phase``."""
        if length < SMALL_XOR or self._words is None:
            xor_into(self.buf, start, length, rotate(key, phase))
            return
        head = (self._align - start) % 8
        xor_into(self.buf, start, head, rotate(key, phase))
        body = start + head
        words = (length - head) // 8
        key = rotate(key, phase + head)
        first = (body - self._align) // 8
        span = self._words[first:first + words]
        numpy.bitwise_xor(span, numpy.frombuffer(key * 2, dtype="<u8")[0], out=span)
        tail = body + words * 8
        xor_into(self.buf, tail, start + length - tail, key)

    def frame(self, length: int, mask: bytes | None = None) -> memoryview:
        """``payload[:length]`` as one binary frame: header in the headroom, masked in place if ``mask``.

        The payload is clobbered by masking: read the next one in anew.
        """
        head = encode_header(Opcode.BINARY, True, length, mask)
        if mask is not None:
            self.xor(HEADROOM, length, mask)
        start = HEADROOM - len(head)
        self.buf[start:HEADROOM] = head
        return self.view[start:HEADROOM + length]
