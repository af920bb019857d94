"""Replay a recording's PC→viewer RFB stream into frames (what ``export`` turns into a video).

The recording holds only what the viewer received, so the renderer assumes
what the viewer asked for: the viewer is noVNC (``viewer.js``), which always
sends SetPixelFormat 32 bpp, depth 24, little-endian, red/green/blue at bits
0/8/16 (a pixel's bytes are R, G, B, padding; a Tight TPIXEL is R, G, B).

Encodings decoded: Raw, CopyRect and Tight (fill, JPEG, and basic with the
copy, palette and gradient filters) — with noVNC's encoding list, TigerVNC
and most servers answer in Tight, and CopyRect/Raw. Pseudo-encodings:
DesktopSize and ExtendedDesktopSize (the screen is resized), LastRect,
Cursor and VMware cursor, DesktopName, QEMU LED state (skipped: a video
shows the screen, not the cursor). Anything else (ZRLE, Hextile, RRE,
Zlib, H.264) raises ``RenderError`` naming it: a server that chose it
cannot be exported by this renderer.

Sans I/O: ``Renderer.feed(data)`` takes the records' bytes in order and
``frames(records, fps)`` yields ``(ms, framebuffer)`` at fixed steps; the
framebuffer is a numpy ``(height, width, 3)`` uint8 array.

Over 300 lines on purpose: one RFB client's state machine (handshake,
messages, rectangles, Tight's forms) reads best whole, and nothing else in
the gateway uses a piece of it.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable, Iterator

import numpy as np

from ..errors import RenderError


ENCODING_NAMES = {2: "RRE", 5: "Hextile", 6: "Zlib", 16: "ZRLE", 21: "JPEG", 50: "H.264", -260: "TightPNG"}
RAW, COPYRECT, TIGHT = 0, 1, 7
DESKTOP_SIZE, LAST_RECT, CURSOR, EXT_DESKTOP_SIZE, DESKTOP_NAME = -223, -224, -239, -308, -307
QEMU_LED, VMWARE_CURSOR = -261, 0x574D5664
NO_DATA = {-258, -309, -312, -313, -316}  # QEMU keys, xvp, fence, continuous updates, mouse buttons
MAX_SIZE = 16384


class _NeedMore(Exception):
    """Not enough bytes yet for the next message: wait for the next record (a signal, caught in
    this module: tests/gateway/test_errors.py lists it)."""


class _Reader:
    def __init__(self, buf: bytearray, pos: int):
        self.buf, self.pos = buf, pos

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise _NeedMore
        out = memoryview(self.buf)[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def unpack(self, fmt: str):
        s = struct.Struct(fmt)
        return s.unpack(self.take(s.size))

    def compact(self) -> int:
        """Tight's compact length: 1–3 bytes, 7 bits each."""
        b = self.u8()
        n = b & 0x7F
        if b & 0x80:
            b = self.u8()
            n |= (b & 0x7F) << 7
            if b & 0x80:
                n |= self.u8() << 14
        return n


class Renderer:
    """The screen as the viewer saw it, record after record."""

    def __init__(self):
        self._buf = bytearray()
        self._state = self._version
        self.fb: np.ndarray | None = None
        self.name = ""
        self._zlib = [zlib.decompressobj() for _ in range(4)]
        self._v38 = True

    @property
    def ready(self) -> bool:
        return self.fb is not None

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the stream; decode every whole message they complete.

        A message is decoded only once it is whole, so a state change (a zlib
        stream) never happens twice: a message cut short is retried from its
        start when more bytes come."""
        self._buf += data
        pos = 0
        while True:
            reader = _Reader(self._buf, pos)
            try:
                state = self._state(reader)
            except _NeedMore:
                break
            pos = reader.pos
            if state is not None:
                self._state = state
        del self._buf[:pos]

    # -- the handshake, as the agent offers it to the viewer --

    def _version(self, r: _Reader):
        text = bytes(r.take(12))
        if not text.startswith(b"RFB "):
            raise RenderError("the recording does not start with an RFB ProtocolVersion")
        self._v38 = text >= b"RFB 003.008"
        return self._security if text >= b"RFB 003.007" else self._security33

    def _security33(self, r: _Reader):
        kind, = r.unpack(">I")
        if kind == 0:
            raise RenderError("the recorded session was refused by the VNC server")
        return self._challenge if kind == 2 else self._server_init

    def _security(self, r: _Reader):
        n = r.u8()
        if n == 0:
            raise RenderError("the recorded session was refused by the VNC server")
        types = bytes(r.take(n))
        # The viewer's choice is not recorded: the agent offers None (1) to the viewer.
        if 1 in types:
            return self._result if self._v38 else self._server_init
        if 2 in types:
            return self._challenge
        raise RenderError(f"security types {list(types)} of the recorded session are not known here")

    def _challenge(self, r: _Reader):
        r.take(16)
        return self._result

    def _result(self, r: _Reader):
        status, = r.unpack(">I")
        if status != 0:
            raise RenderError("the recorded session failed its VNC authentication")
        return self._server_init

    def _server_init(self, r: _Reader):
        w, h = r.unpack(">HH")
        r.take(16)  # the server's pixel format: noVNC replaces it at once (module docstring)
        n, = r.unpack(">I")
        self.name = bytes(r.take(n)).decode("utf-8", "replace")
        self.fb = _resized(None, w, h)
        return self._message

    # -- server messages (RFC 6143 §7.6, and the extensions noVNC asks for) --

    def _message(self, r: _Reader):
        kind = r.u8()
        if kind == 0:
            self._update(r)
        elif kind == 1:  # SetColourMapEntries: unused with a true-colour format
            _, _, n = r.unpack(">BHH")
            r.take(6 * n)
        elif kind == 2:  # Bell
            pass
        elif kind == 3:  # ServerCutText (a negative length: extended clipboard)
            _, _, _, n = r.unpack(">BBBi")
            r.take(abs(n))
        elif kind == 150:  # EndOfContinuousUpdates
            pass
        elif kind == 248:  # ServerFence
            r.take(3)
            _, n = r.unpack(">IB")
            r.take(n)
        elif kind == 250:  # xvp
            r.take(3)
        else:
            raise RenderError(f"server message {kind} is not known here")
        return None

    def _update(self, r: _Reader) -> None:
        _, count = r.unpack(">BH")
        # A whole update is decoded into a copy: a message cut short leaves the screen and the
        # zlib streams as they were (``feed`` retries it whole), so they are swapped in at the end.
        fb = self.fb.copy()
        streams = [z.copy() for z in self._zlib]
        for _ in range(count):
            x, y, w, h, enc = r.unpack(">HHHHi")
            if enc == LAST_RECT:
                break
            fb = self._rect(r, fb, streams, x, y, w, h, enc)
        self.fb, self._zlib = fb, streams

    def _rect(self, r: _Reader, fb, streams, x, y, w, h, enc):
        if enc in (DESKTOP_SIZE, EXT_DESKTOP_SIZE):
            if enc == EXT_DESKTOP_SIZE:
                n = r.u8()
                r.take(3 + 16 * n)
            return _resized(fb, w, h)
        if enc == CURSOR:
            r.take(w * h * 4 + ((w + 7) // 8) * h)
            return fb
        if enc == VMWARE_CURSOR:
            kind = r.u8()
            r.take(1)
            r.take(w * h * 4 * (2 if kind == 0 else 1))
            return fb
        if enc == DESKTOP_NAME:
            n, = r.unpack(">I")
            r.take(n)
            return fb
        if enc == QEMU_LED:
            r.take(1)
            return fb
        if enc in NO_DATA:
            return fb
        if x + w > fb.shape[1] or y + h > fb.shape[0]:
            raise RenderError("a rectangle outside the screen")
        if enc == RAW:
            px = np.frombuffer(r.take(w * h * 4), np.uint8).reshape(h, w, 4)
            fb[y:y + h, x:x + w] = px[:, :, :3]
        elif enc == COPYRECT:
            sx, sy = r.unpack(">HH")
            if sx + w > fb.shape[1] or sy + h > fb.shape[0]:
                raise RenderError("a CopyRect from outside the screen")
            fb[y:y + h, x:x + w] = fb[sy:sy + h, sx:sx + w].copy()
        elif enc == TIGHT:
            self._tight(r, fb, streams, x, y, w, h)
        else:
            name = ENCODING_NAMES.get(enc, str(enc))
            raise RenderError(f"the {name} encoding is not decoded by the exporter (Raw, CopyRect, Tight are)")
        return fb

    def _tight(self, r: _Reader, fb, streams, x, y, w, h) -> None:
        ctl = r.u8()
        for i in range(4):
            if ctl & (1 << i):
                streams[i] = zlib.decompressobj()
        cmd = ctl >> 4
        if cmd == 8:  # fill
            fb[y:y + h, x:x + w] = np.frombuffer(r.take(3), np.uint8)
            return
        if cmd == 9:  # JPEG
            from PIL import Image

            data = bytes(r.take(r.compact()))
            try:
                image = Image.open(io.BytesIO(data)).convert("RGB")
            except Exception as exc:
                raise RenderError("a damaged JPEG rectangle") from exc
            fb[y:y + h, x:x + w] = np.asarray(image)[:h, :w]
            return
        if cmd > 9:
            raise RenderError("the TightPNG form is not decoded by the exporter")
        stream = cmd & 3
        filt = r.u8() if cmd & 4 else 0
        palette = None
        if filt == 1:
            n = r.u8() + 1
            palette = np.frombuffer(r.take(3 * n), np.uint8).reshape(n, 3)
            size = ((w + 7) // 8) * h if n == 2 else w * h
        elif filt in (0, 2):
            size = w * h * 3
        else:
            raise RenderError(f"Tight filter {filt} is not known")
        if size < 12:
            data = bytes(r.take(size))
        else:
            packed = bytes(r.take(r.compact()))
            try:
                data = streams[stream].decompress(packed)
            except zlib.error as exc:
                raise RenderError("a damaged Tight zlib stream") from exc
            if len(data) != size:
                raise RenderError("a Tight rectangle of the wrong size")
        if palette is None:
            px = np.frombuffer(data, np.uint8).reshape(h, w, 3)
            fb[y:y + h, x:x + w] = _ungradient(px) if filt == 2 else px
        elif len(palette) == 2:
            bits = np.unpackbits(np.frombuffer(data, np.uint8).reshape(h, (w + 7) // 8), axis=1)[:, :w]
            fb[y:y + h, x:x + w] = palette[bits]
        else:
            idx = np.frombuffer(data, np.uint8).reshape(h, w)
            if int(idx.max(initial=0)) >= len(palette):
                raise RenderError("a Tight palette index past the palette")
            fb[y:y + h, x:x + w] = palette[idx]


def _resized(old: np.ndarray | None, w: int, h: int) -> np.ndarray:
    """A new screen of ``w``×``h``, what fits of ``old`` kept (a desktop resized)."""
    if not (0 < w <= MAX_SIZE and 0 < h <= MAX_SIZE):
        raise RenderError(f"a {w}×{h} screen is not plausible")
    fb = np.zeros((h, w, 3), np.uint8)
    if old is not None:
        hh, ww = min(h, old.shape[0]), min(w, old.shape[1])
        fb[:hh, :ww] = old[:hh, :ww]
    return fb


def _ungradient(diff: np.ndarray) -> np.ndarray:
    """Tight's gradient filter undone: each pixel is predicted from its left, upper and
    upper-left neighbours (clamped), the data is the difference. Row by row (each
    pixel depends on the one left of it); servers rarely use it."""
    h, w, _ = diff.shape
    out = np.zeros((h, w, 3), np.int32)
    d = diff.astype(np.int32)
    for j in range(h):
        up = out[j - 1] if j else np.zeros((w, 3), np.int32)
        for i in range(w):
            left = out[j, i - 1] if i else 0
            upleft = up[i - 1] if i else 0
            pred = np.clip(left + up[i] - upleft, 0, 255)
            out[j, i] = (pred + d[j, i]) & 0xFF
    return out.astype(np.uint8)


def frames(records: Iterable, fps: float, until_ms: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(ms, screen)`` every 1/fps seconds from 0 to ``until_ms`` (default: the last record).

    ``records`` are ``format.Record``s (PC→viewer only are used). The screen at a
    step is the one after every record up to that time: what the viewer showed
    (black until the first screen arrived), so a video's clock is the recording's."""
    renderer = Renderer()
    step = 1000.0 / fps
    k = 0
    last = 0
    for record in records:
        if record.direction != 0:
            continue
        while renderer.ready and k * step < record.ms:
            yield round(k * step), renderer.fb
            k += 1
        renderer.feed(record.data)
        last = record.ms
    if renderer.ready:
        end = last if until_ms is None else until_ms
        while k * step <= end:
            yield round(k * step), renderer.fb
            k += 1
