"""Sans-IO reader of the viewer→server half of an RFB session (RFC 6143 §7.1–7.5, rfbproto).

The gateway relays a viewer's bytes to the agent unchanged, except in a
session whose terms say *view only*: there it must drop every message that
would act on the PC (keys, pointer, clipboard, xvp power actions, desktop
resizes) and forward the rest (pixel format, encodings, update requests,
fences…), or the screen would stop updating. It also needs to know *when*
the viewer last gave input (the idle timeout). Both need the byte stream cut
into whole client messages, which is this module's one job.

Fed the viewer's bytes from the very first one — the handshake it does with
the agent, which offers only security type None (``rfb.ServerHandshake``):
ProtocolVersion (12 bytes), the security-type choice (1 byte, 3.7 and 3.8
only) and ClientInit (1 byte) — ``receive()`` returns one event per
handshake step or client message, in order:

* ``Handshake``: forwarded as is (the agent checks it);
* ``ClientMessage``: ``forward`` says whether its bytes go on, ``input``
  whether a person did something (key, pointer, clipboard);
* ``Fail``: an unknown message type, a malformed handshake or a message
  over its size limit; nothing after it is read, the caller ends the session.

The messages are those of RFC 6143 §7.5 and the extensions noVNC 1.7 and
TigerVNC send (``RFB.messages`` in noVNC's ``core/rfb.js``): QEMU extended
key events and audio (255), EnableContinuousUpdates (150), Fence (248), xvp
(250), SetDesktopSize (251) and GII (253). Anything else cannot be framed
(RFB messages carry no generic length), so it is a ``Fail``, not a guess.

A PointerEvent is 6 bytes, or 7 once the viewer asked for ExtendedMouseButtons
(pseudo-encoding -316) and sets the mask's marker bit (noVNC only does so
after the server confirmed it, so seeing the viewer's side is enough).

Nothing here does I/O; every length the viewer announces is checked before
its bytes are awaited, so memory stays bounded by the largest allowed message.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

#: Clipboard text a viewer may send in one ClientCutText (plain or extended, which
#: is zlib-compressed): a generous paste; the WebSocket carrying it allows 4 MiB.
DEFAULT_MAX_CUT_TEXT = 1024 * 1024
MAX_ENCODINGS = 1024  # SetEncodings entries; noVNC sends about 30
MAX_SCREENS = 255  # SetDesktopSize's count is one byte anyway
MAX_GII = 64 * 1024  # a GII message's announced length
PSEUDO_EXTENDED_MOUSE_BUTTONS = -316

_VERSION = re.compile(rb"RFB (\d{3})\.(\d{3})\n")


@dataclass(frozen=True)
class Handshake:
    """A handshake step: ``step`` is "version", "security" or "client-init"; always forwarded."""

    step: str
    data: bytes
    forward: bool = True
    input: bool = False


@dataclass(frozen=True)
class ClientMessage:
    """One client-to-server message, whole: its ``name`` (as rfbproto calls it) and bytes."""

    name: str
    data: bytes
    forward: bool
    input: bool


@dataclass(frozen=True)
class Fail:
    """The viewer's stream cannot be read on; ``reason`` says why, in words for the history."""

    reason: str


Event = Handshake | ClientMessage | Fail

#: A person's input: what shows the viewer is being used (the idle timeout counts it).
#: What acts on the PC: dropped in a view-only session (xvp can reboot it).
_INPUT = {"KeyEvent", "PointerEvent", "ClientCutText", "QEMUExtendedKeyEvent", "GIIInjectEvents"}
_ACTS = _INPUT | {"xvp", "SetDesktopSize"}


def forwarded(events: list[Event]) -> bytes:
    """The bytes of ``events`` that go on to the server, in order."""
    return b"".join(e.data for e in events if not isinstance(e, Fail) and e.forward)


class ViewerStream:
    """The viewer's bytes cut into events; ``view_only`` drops what acts on the PC."""

    def __init__(self, *, view_only: bool, max_cut_text: int = DEFAULT_MAX_CUT_TEXT):
        self.view_only = view_only
        self.max_cut_text = max_cut_text
        self._buf = bytearray()
        self._state = "version"  # then "security" (3.7/3.8), "client-init", "messages", "failed"
        self._extended_pointer = False

    @property
    def failed(self) -> bool:
        return self._state == "failed"

    def receive(self, data: bytes) -> list[Event]:
        """Take ``data`` (any split), return the events it completes; after a ``Fail``, nothing."""
        if self._state == "failed":
            return []
        self._buf += data
        events: list[Event] = []
        while True:
            event = self._next()
            if event is None:
                return events
            events.append(event)
            if isinstance(event, Fail):
                self._state = "failed"
                self._buf.clear()
                return events

    # -- one event, or None until more bytes come --------------------------------------------

    def _next(self) -> Event | None:
        buf = self._buf
        if self._state == "version":
            if len(buf) < 12:
                return None
            data = self._take(12)
            match = _VERSION.fullmatch(data)
            if match is None:
                return Fail(f"The viewer sent no valid RFB version: {data!r}")
            major, minor = int(match[1]), int(match[2])
            if major != 3 or minor < 3:
                return Fail(f"The viewer speaks RFB {major}.{minor}, not 3.x")
            self._state = "security" if minor >= 7 else "client-init"  # as rfb.ServerHandshake reads it
            return Handshake("version", data)
        if self._state in ("security", "client-init"):
            if not buf:
                return None
            step = self._state
            self._state = "client-init" if step == "security" else "messages"
            return Handshake(step, self._take(1))
        if not buf:
            return None
        return self._message(buf[0])

    def _message(self, kind: int) -> Event | None:
        size = self._size(kind)
        if isinstance(size, Fail) or size is None:
            return size
        name, length = size
        if len(self._buf) < length:
            return None
        data = self._take(length)
        if name == "SetEncodings":
            count = struct.unpack_from(">H", data, 2)[0]
            encodings = struct.unpack_from(f">{count}i", data, 4)
            self._extended_pointer = PSEUDO_EXTENDED_MOUSE_BUTTONS in encodings
        acts = name in _ACTS
        return ClientMessage(name, data, forward=not (self.view_only and acts), input=name in _INPUT)

    def _size(self, kind: int):
        """``(name, length)`` of the message starting the buffer, ``None`` if not known yet, or ``Fail``."""
        buf = self._buf
        have = len(buf)
        if kind == 0:
            return "SetPixelFormat", 20
        if kind == 2:
            if have < 4:
                return None
            count = struct.unpack_from(">H", buf, 2)[0]
            if count > MAX_ENCODINGS:
                return Fail(f"The viewer sent {count} encodings, over the {MAX_ENCODINGS} allowed")
            return "SetEncodings", 4 + 4 * count
        if kind == 3:
            return "FramebufferUpdateRequest", 10
        if kind == 4:
            return "KeyEvent", 8
        if kind == 5:
            if have < 2:
                return None
            extended = self._extended_pointer and buf[1] & 0x80
            return "PointerEvent", 7 if extended else 6
        if kind == 6:
            if have < 8:
                return None
            length = struct.unpack_from(">i", buf, 4)[0]
            length = -length if length < 0 else length  # negative: the extended clipboard (rfbproto)
            if length > self.max_cut_text:
                return Fail(f"The viewer sent {length} bytes of clipboard, over the {self.max_cut_text} allowed")
            return "ClientCutText", 8 + length
        if kind == 150:
            return "EnableContinuousUpdates", 10
        if kind == 248:
            if have < 9:
                return None
            length = buf[8]
            if length > 64:
                return Fail(f"The viewer sent a Fence with {length} bytes of payload, over the 64 allowed")
            return "Fence", 9 + length
        if kind == 250:
            return "xvp", 4
        if kind == 251:
            if have < 7:
                return None
            return "SetDesktopSize", 8 + 16 * buf[6]
        if kind == 253:
            if have < 4:
                return None
            length = struct.unpack_from("<H" if buf[1] & 0x80 == 0 else ">H", buf, 2)[0]
            if length > MAX_GII:
                return Fail(f"The viewer sent a GII message of {length} bytes, over the {MAX_GII} allowed")
            return ("GIIInjectEvents" if buf[1] & 0x7F == 0 else "GIIVersion"), 4 + length
        if kind == 255:
            return self._qemu_size()
        return Fail(f"The viewer sent RFB message type {kind}, which the gateway does not know")

    def _qemu_size(self):
        buf = self._buf
        if len(buf) < 2:
            return None
        if buf[1] == 0:
            return "QEMUExtendedKeyEvent", 12
        if buf[1] == 1:  # QEMU audio: operation 2 (set format) carries 6 more bytes
            if len(buf) < 4:
                return None
            operation = struct.unpack_from(">H", buf, 2)[0]
            return "QEMUAudio", 10 if operation == 2 else 4
        return Fail(f"The viewer sent QEMU message subtype {buf[1]}, which the gateway does not know")

    def _take(self, n: int) -> bytes:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data
