"""The viewer's RFB stream cut into messages: what a view-only session forwards, drops, refuses.

The messages are built as noVNC 1.7's ``RFB.messages`` builds them (``core/rfb.js``),
byte for byte, so a change there that this reader does not follow shows here.
"""

from __future__ import annotations

import struct

import pytest

from agents.protocol.rfbinput import (DEFAULT_MAX_CUT_TEXT, ClientMessage, Fail, Handshake, ViewerStream,
                                      forwarded)
from tests.support.playbook import Playbook


def _key(keysym=0x61, down=1):
    return struct.pack(">BBHI", 4, down, 0, keysym)


def _qemu_key(keysym=0x61, down=1, keycode=0x1E):
    return struct.pack(">BBHII", 255, 0, down, keysym, keycode)


def _pointer(x=10, y=20, mask=1):
    return struct.pack(">BBHH", 5, mask & 0x7F, x, y)


def _extended_pointer(x=10, y=20, mask=0x100):
    return struct.pack(">BBHHB", 5, (mask & 0x7F) | 0x80, x, y, (mask >> 7) & 0xFF)


def _cut_text(text=b"hello"):
    return struct.pack(">B3xI", 6, len(text)) + text


def _extended_cut_text(data=b"\x08\x00\x00\x01" + b"\x78\x9c" + b"z" * 10):
    return struct.pack(">B3xi", 6, -len(data)) + data


def _set_desktop_size(w=800, h=600):
    return struct.pack(">BxHHBx", 251, w, h, 1) + struct.pack(">IHHHHI", 0, 0, 0, w, h, 0)


def _fence(flags=0x80000003, payload=b"abc"):
    return struct.pack(">B3xIB", 248, flags, len(payload)) + payload


def _continuous(enable=1):
    return struct.pack(">BBHHHH", 150, enable, 0, 0, 640, 480)


def _pixel_format():
    return struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 0, 8, 16)


def _encodings(*encodings):
    return struct.pack(">BxH", 2, len(encodings)) + struct.pack(f">{len(encodings)}i", *encodings)


def _update_request(incremental=1):
    return struct.pack(">BBHHHH", 3, incremental, 0, 0, 640, 480)


def _xvp(op=4):  # 4: reboot
    return struct.pack(">BxBB", 250, 1, op)


def _qemu_audio(operation=2):
    tail = struct.pack(">BBI", 1, 2, 44100) if operation == 2 else b""
    return struct.pack(">BBH", 255, 1, operation) + tail


def _gii(subtype=0, payload=b"\x00" * 8):
    return struct.pack(">BBH", 253, 0x80 | subtype, len(payload)) + payload


HANDSHAKE_38 = [Handshake("version", b"RFB 003.008\n"), Handshake("security", b"\x01"),
                Handshake("client-init", b"\x01")]

#: (name, bytes, input, acts on the PC)
MESSAGES = [
    ("SetPixelFormat", _pixel_format(), False, False),
    ("SetEncodings", _encodings(7, 16, 0, -223, -316, -258), False, False),
    ("FramebufferUpdateRequest", _update_request(), False, False),
    ("KeyEvent", _key(), True, True),
    ("PointerEvent", _pointer(), True, True),
    ("PointerEvent", _extended_pointer(), True, True),  # after -316 in SetEncodings above
    ("ClientCutText", _cut_text(), True, True),
    ("ClientCutText", _extended_cut_text(), True, True),
    ("ClientCutText", _cut_text(b""), True, True),
    ("QEMUExtendedKeyEvent", _qemu_key(), True, True),
    ("EnableContinuousUpdates", _continuous(), False, False),
    ("Fence", _fence(), False, False),
    ("Fence", _fence(payload=b""), False, False),
    ("xvp", _xvp(), False, True),
    ("SetDesktopSize", _set_desktop_size(), False, True),
    ("QEMUAudio", _qemu_audio(2), False, False),
    ("QEMUAudio", _qemu_audio(0), False, False),
    ("GIIVersion", _gii(1, b"\x00\x01"), False, False),
    ("GIIInjectEvents", _gii(0), True, True),
]


def _stream(messages=MESSAGES) -> bytes:
    return b"".join(e.data for e in HANDSHAKE_38) + b"".join(m[1] for m in messages)


def _expected(view_only: bool):
    return HANDSHAKE_38 + [ClientMessage(name, data, forward=not (view_only and acts), input=is_input)
                           for name, data, is_input, acts in MESSAGES]


@pytest.mark.parametrize("view_only", [False, True])
def test_every_message_noVNC_sends_comes_out_whole_in_a_transcript(view_only):
    pb = Playbook(ViewerStream(view_only=view_only), encode=lambda e: e.data)
    for event in _expected(view_only):
        pb = pb << event
    assert not pb.conn.failed


@pytest.mark.parametrize("view_only", [False, True])
def test_any_split_of_the_stream_gives_the_same_events(view_only):
    stream = _stream()
    expected = _expected(view_only)
    for cut in range(len(stream) + 1):
        parser = ViewerStream(view_only=view_only)
        assert parser.receive(stream[:cut]) + parser.receive(stream[cut:]) == expected, cut
    parser = ViewerStream(view_only=view_only)
    assert [e for i in range(len(stream)) for e in parser.receive(stream[i:i + 1])] == expected


def test_view_only_forwards_all_but_what_acts_on_the_pc():
    stream = _stream()
    normal = forwarded(ViewerStream(view_only=False).receive(stream))
    assert normal == stream  # an ordinary session: every byte, unchanged
    kept = forwarded(ViewerStream(view_only=True).receive(stream))
    assert kept == b"".join(e.data for e in HANDSHAKE_38) + b"".join(
        data for _, data, _, acts in MESSAGES if not acts)
    dropped_types = {data[0] for _, data, _, acts in MESSAGES if acts}
    assert dropped_types == {4, 5, 6, 255, 250, 251, 253}


@pytest.mark.parametrize("version, steps", [
    (b"RFB 003.003\n", ["version", "client-init"]),  # 3.3: the server picks the security type
    (b"RFB 003.007\n", ["version", "security", "client-init"]),
    (b"RFB 003.889\n", ["version", "security", "client-init"]),  # Apple's: 3.8
])
def test_the_handshake_follows_the_version_the_viewer_chose(version, steps):
    parser = ViewerStream(view_only=True)
    events = parser.receive(version + b"\x01" * (len(steps) - 1) + _key())
    assert [e.step for e in events[:-1]] == steps
    assert events[-1] == ClientMessage("KeyEvent", _key(), forward=False, input=True)


def test_without_extended_mouse_buttons_the_marker_bit_is_button_8():
    parser = ViewerStream(view_only=False)
    parser.receive(b"RFB 003.008\n\x01\x01" + _encodings(7, 0))
    button8 = struct.pack(">BBHH", 5, 0x80, 1, 2)
    assert parser.receive(button8 + _key()) == [ClientMessage("PointerEvent", button8, True, True),
                                                ClientMessage("KeyEvent", _key(), True, True)]


@pytest.mark.parametrize("junk, words", [
    (b"GET / HTTP/1.1\r\n", "no valid RFB version"),
    (b"RFB 004.000\n", "RFB 4.0"),
    (b"RFB 003.008\n\x01\x01\x07", "message type 7"),
    (b"RFB 003.008\n\x01\x01\x09\x00\x00\x00", "message type 9"),  # UltraVNC SetServerInput: never framed by guess
    (b"RFB 003.008\n\x01\x01\xff\x05", "QEMU message subtype 5"),
    (b"RFB 003.008\n\x01\x01" + struct.pack(">B3xI", 6, DEFAULT_MAX_CUT_TEXT + 1), "clipboard"),
    (b"RFB 003.008\n\x01\x01" + struct.pack(">B3xi", 6, -(DEFAULT_MAX_CUT_TEXT + 1)), "clipboard"),
    (b"RFB 003.008\n\x01\x01" + struct.pack(">B3xi", 6, -2**31), "clipboard"),
    (b"RFB 003.008\n\x01\x01\x02\x00\xff\xff", "encodings"),
    (b"RFB 003.008\n\x01\x01" + struct.pack(">B3xIB", 248, 0, 65), "Fence"),
])
def test_what_cannot_be_framed_fails_with_a_reason_and_stops_reading(junk, words):
    parser = ViewerStream(view_only=True)
    events = parser.receive(junk)
    assert isinstance(events[-1], Fail) and words in events[-1].reason, events
    assert parser.failed
    assert parser.receive(_key()) == []


def test_a_cut_text_limit_is_the_callers():
    parser = ViewerStream(view_only=False, max_cut_text=4)
    events = parser.receive(b"RFB 003.008\n\x01\x01" + _cut_text(b"abcd") + _cut_text(b"abcde"))
    assert events[3] == ClientMessage("ClientCutText", _cut_text(b"abcd"), True, True)
    assert isinstance(events[4], Fail)


def test_a_message_is_held_only_until_it_is_whole():
    parser = ViewerStream(view_only=True)
    parser.receive(b"RFB 003.008\n\x01\x01")
    big = _cut_text(b"x" * 100_000)
    assert parser.receive(big[:50_000]) == []
    assert parser.receive(big[50_000:] + _update_request()[:3]) == [
        ClientMessage("ClientCutText", big, forward=False, input=True)]
    assert parser.receive(_update_request()[3:]) == [
        ClientMessage("FramebufferUpdateRequest", _update_request(), forward=True, input=False)]
