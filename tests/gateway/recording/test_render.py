"""The exporter's renderer (gateway/recording/render.py) on an RFB stream built here byte by byte,
and the export through Debian's ffmpeg, read back frame by frame with ffmpeg."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest
from PIL import Image

from gateway.recording import export, render
from gateway.recording import format as fmt

W, H = 64, 48
RED, GREEN, BLUE, WHITE = (200, 30, 30), (30, 200, 30), (30, 30, 200), (255, 255, 255)


def handshake() -> list[bytes]:
    # As the agent offers it to the viewer: 3.8, security None, SecurityResult OK, ServerInit.
    init = struct.pack(">HH", W, H) + bytes(16) + struct.pack(">I", 2) + b"pc"
    return [b"RFB 003.008\n", b"\x01\x01", struct.pack(">I", 0), init]


def update(*rects: bytes) -> bytes:
    return struct.pack(">BxH", 0, len(rects)) + b"".join(rects)


def rect(x, y, w, h, enc, body=b"") -> bytes:
    return struct.pack(">HHHHi", x, y, w, h, enc) + body


def raw(w, h, colour) -> bytes:
    return bytes([*colour, 0]) * (w * h)  # noVNC's pixel format: R, G, B, padding


def compact(n: int) -> bytes:
    out = bytearray([n & 0x7F])
    if n > 0x7F:
        out[0] |= 0x80
        out.append((n >> 7) & 0x7F)
        if n > 0x3FFF:
            out[1] |= 0x80
            out.append(n >> 14)
    return bytes(out)


def tight_fill(colour) -> bytes:
    return bytes([0x80]) + bytes(colour)


def tight_jpeg(w, h, colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, "JPEG", quality=95)
    return bytes([0x90]) + compact(len(buf.getvalue())) + buf.getvalue()


def tight_palette(w, h, a, b, stream: zlib._Compress) -> bytes:
    # Two colours, one bit a pixel: left half a, right half b.
    row = np.array([0] * (w // 2) + [1] * (w - w // 2), np.uint8)
    bits = np.packbits(np.tile(row, (h, 1)), axis=1).tobytes()
    packed = stream.compress(bits) + stream.flush(zlib.Z_SYNC_FLUSH)
    return bytes([0x40 | 0x10, 1, 1]) + bytes(a) + bytes(b) + compact(len(packed)) + packed  # stream 1


def at(fb, x, y):
    return tuple(int(v) for v in fb[y, x])


def test_raw_copyrect_and_tight_are_drawn_as_the_viewer_drew_them():
    r = render.Renderer()
    for piece in handshake():
        r.feed(piece)
    assert r.ready and r.fb.shape == (H, W, 3) and r.name == "pc"
    z = zlib.compressobj()
    r.feed(update(rect(0, 0, W, H, 0, raw(W, H, RED)),
                  rect(0, 0, 16, 16, 7, tight_fill(GREEN)),
                  rect(32, 0, 16, 16, 1, struct.pack(">HH", 0, 0)),      # CopyRect of the green square
                  rect(0, 24, 32, 24, 7, tight_jpeg(32, 24, BLUE)),
                  rect(32, 24, 32, 24, 7, tight_palette(32, 24, WHITE, GREEN, z)),
                  rect(0, 0, 0, 0, -224)))                                # LastRect
    assert at(r.fb, 5, 5) == GREEN and at(r.fb, 40, 5) == GREEN and at(r.fb, 20, 5) == RED
    assert all(abs(a - b) <= 3 for a, b in zip(at(r.fb, 10, 30), BLUE))  # JPEG: near enough
    assert at(r.fb, 36, 30) == WHITE and at(r.fb, 60, 30) == GREEN
    # The same zlib stream goes on in the next update (Tight's streams persist).
    r.feed(update(rect(32, 24, 32, 24, 7, tight_palette(32, 24, RED, BLUE, z))))
    assert at(r.fb, 36, 30) == RED and at(r.fb, 60, 30) == BLUE


def test_a_message_split_anywhere_is_decoded_once_whole():
    z = zlib.compressobj()
    stream = b"".join(handshake()) + update(rect(0, 0, W, H, 7, tight_palette(W, H, RED, BLUE, z))) + \
        update(rect(0, 0, W, H, 7, tight_palette(W, H, GREEN, WHITE, z)))
    r = render.Renderer()
    for i in range(0, len(stream), 7):  # 7-byte records: every message is cut somewhere
        r.feed(stream[i:i + 7])
    assert at(r.fb, 1, 1) == GREEN and at(r.fb, W - 1, 1) == WHITE


def test_an_encoding_not_decoded_here_is_named():
    r = render.Renderer()
    for piece in handshake():
        r.feed(piece)
    with pytest.raises(render.RenderError, match="ZRLE"):
        r.feed(update(rect(0, 0, 4, 4, 16, b"\x00" * 8)))


def recording(updates: list[tuple[int, bytes]]) -> bytes:
    out = [fmt.header({"session": "a" * 32})]
    for ms, data in [(0, b"".join(handshake()))] + updates:
        builder = fmt.ChunkBuilder()
        builder.add(ms, data)
        out.append(builder.seal())
    out.append(fmt.end(updates[-1][0] + 1000))
    return b"".join(out)


def test_frames_follow_the_recordings_clock():
    data = recording([(100, update(rect(0, 0, W, H, 7, tight_fill(RED)))),
                      (2000, update(rect(0, 0, W, H, 7, tight_fill(BLUE))))])
    shown = {ms: at(fb, 0, 0) for ms, fb in render.frames(fmt.records(fmt.from_bytes(data)), 10, until_ms=3000)}
    assert shown[0] == (0, 0, 0) and shown[200] == RED and shown[1900] == RED and shown[2000] == BLUE
    assert max(shown) == 3000


def frame_at(video, second: float, w=W, h=H) -> tuple:
    """The pixel (10, 10) of the frame ffmpeg decodes at ``second`` of ``video``."""
    out = subprocess.run(["ffmpeg", "-loglevel", "error", "-ss", f"{second}", "-i", str(video), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return tuple(np.frombuffer(out, np.uint8).reshape(h, w, 3)[10, 10])


def near(a, b, tol=24):
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b))


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="not installed: ffmpeg")
@pytest.mark.parametrize("suffix", [".webm", ".mp4"])
def test_export_makes_a_video_with_those_colours_at_those_times(tmp_path, suffix):
    data = recording([(100, update(rect(0, 0, W, H, 7, tight_fill(RED)))),
                      (2000, update(rect(0, 0, W, H, 7, tight_fill(BLUE)))),
                      (4000, update(rect(0, 0, W, H, 7, tight_fill(GREEN))))])
    out = tmp_path / f"out{suffix}"
    made = export.export(_Reader(data), out, fps=5)
    assert made["width"] == W and made["frames"] == 26  # 0 … 5.0 s at 5 fps
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(out)], capture_output=True, text=True, check=True).stdout
    assert 4.8 <= float(probe) <= 5.4
    assert near(frame_at(out, 1.0), RED) and near(frame_at(out, 3.0), BLUE) and near(frame_at(out, 4.6), GREEN)


def test_export_refuses_what_it_does_not_make(tmp_path):
    with pytest.raises(export.ExportError, match=".avi"):
        export.export(_Reader(recording([(1, b"")])), tmp_path / "x.avi")


class _Reader:
    def __init__(self, data):
        self.read_at = fmt.from_bytes(data)
