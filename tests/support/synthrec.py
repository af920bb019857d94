"""A long recording built byte by byte (an RFB stream as noVNC gets it from TigerVNC: Tight fills,
Tight zlib palettes, JPEG rectangles), for what cannot wait for a real ten-minute session:
the player's seek time to the end of a long recording.

Office-like: a 1280×800 desktop, a "typing" strip that changes every ``step_ms`` (a two-colour
Tight rectangle on one persistent zlib stream, as text is sent), a photo-like JPEG window every
30 s, and the last ``final_s`` seconds a full screen of ``final`` colour (what a test checks).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

W, H = 1280, 800


def _compact(n: int) -> bytes:
    out = bytearray([n & 0x7F])
    if n > 0x7F:
        out[0] |= 0x80
        out.append((n >> 7) & 0x7F)
        if n > 0x3FFF:
            out[1] |= 0x80
            out.append(n >> 14)
    return bytes(out)


def _rect(x, y, w, h, enc, body=b"") -> bytes:
    return struct.pack(">HHHHi", x, y, w, h, enc) + body


def _update(*rects: bytes) -> bytes:
    return struct.pack(">BxH", 0, len(rects)) + b"".join(rects)


def _fill(colour) -> bytes:
    return bytes([0x80]) + bytes(colour)


def _jpeg(w, h, seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, w, dtype=np.uint8)
    img = np.stack([np.tile(gradient, (h, 1)), rng.integers(0, 255, (h, w), np.uint8) // 4 + 96,
                    np.tile(gradient[::-1], (h, 1))], axis=2)
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, "JPEG", quality=60)
    return bytes([0x90]) + _compact(len(buf.getvalue())) + buf.getvalue()


def _text(w, h, stream, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    bits = np.packbits(rng.random((h, w)) < 0.15, axis=1).tobytes()
    packed = stream.compress(bits) + stream.flush(zlib.Z_SYNC_FLUSH)
    return bytes([0x40 | 0x10, 1, 1]) + bytes((250, 250, 250)) + bytes((20, 20, 20)) + _compact(len(packed)) + packed


def records(minutes: float = 10, step_ms: int = 500, final=(30, 30, 200), final_s: float = 5.0):
    """``(ms, bytes)`` records of the stream, from the handshake on."""
    init = struct.pack(">HH", W, H) + bytes(16) + struct.pack(">I", 7) + b"desktop"
    yield 0, b"RFB 003.008\n"
    yield 1, b"\x01\x01" + struct.pack(">I", 0)
    yield 2, init
    yield 50, _update(_rect(0, 0, W, H, 7, _fill((0, 90, 120))))
    z = zlib.compressobj()
    end = int(minutes * 60000)
    ms = 100
    n = 0
    while ms < end - final_s * 1000:
        rects = [_rect(40, 700, 800, 16, 7, _text(800, 16, z, n))]
        if n % 60 == 0:  # every 30 s: a window of photo-like content
            rects.append(_rect(200, 100, 640, 400, 7, _jpeg(640, 400, n)))
        yield ms, _update(*rects)
        ms += step_ms
        n += 1
    yield ms, _update(_rect(0, 0, W, H, 7, _fill(final)))
    yield end, _update(_rect(W - 80, 0, 80, 16, 7, _text(80, 16, z, n)))


def recording_bytes(session: str, started: float, **kwargs) -> bytes:
    """The whole file, chunked as the recorder chunks (``format.ChunkBuilder``)."""
    from gateway.recording import format as fmt

    out = [fmt.header({"session": session, "started": started, "machine": "pc", "user": "emp"})]
    builder = fmt.ChunkBuilder(level=1)
    last = 0
    for ms, data in records(**kwargs):
        if builder.due(ms):
            out.append(builder.seal())
        builder.add(ms, data)
        if builder.raw_len >= fmt.CHUNK_BYTES:
            out.append(builder.seal())
        last = ms
    if not builder.empty:
        out.append(builder.seal())
    out.append(fmt.end(last + 100))
    return b"".join(out)
