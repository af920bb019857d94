"""The frame codec (agents/protocol/wsframe.py), with bytes only: RFC 6455 §5.2/§5.3/§5.5."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.protocol import wsframe
from agents.protocol.wsframe import (CloseCode, FrameBuffer, FrameHeader, FramingError, MessageTooBig, Opcode,
                                     check_header, encode_header, parse_close, parse_header, xor_mask)

KEY = bytes.fromhex("37fa213d")


# -- §5.7's examples, byte for byte ---------------------------------------------------------------

@pytest.mark.parametrize("wire, fin, opcode, mask, payload", [
    (bytes.fromhex("810548656c6c6f"), True, Opcode.TEXT, None, b"Hello"),
    (bytes.fromhex("818537fa213d7f9f4d5158"), True, Opcode.TEXT, KEY, b"Hello"),
    (bytes.fromhex("010348656c"), False, Opcode.TEXT, None, b"Hel"),
    (bytes.fromhex("80026c6f"), True, Opcode.CONTINUATION, None, b"lo"),
    (bytes.fromhex("890548656c6c6f"), True, Opcode.PING, None, b"Hello"),
    (bytes.fromhex("8a8537fa213d7f9f4d5158"), True, Opcode.PONG, KEY, b"Hello"),
])
def test_rfc_examples_parse_and_encode(wire, fin, opcode, mask, payload):
    header = parse_header(wire)
    assert header == FrameHeader(fin, 0, opcode, len(payload), mask, 6 if mask else 2)
    body = wire[header.header_length:]
    assert (xor_mask(body, mask) if mask else body) == payload
    assert encode_header(opcode, fin, len(payload), mask) == wire[:header.header_length]
    assert header.is_control == (opcode >= 0x8)


@pytest.mark.parametrize("length, hlen", [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (2 ** 63, 10)])
@pytest.mark.parametrize("mask", [None, KEY])
def test_the_three_length_encodings(length, hlen, mask):
    """7-bit, 16-bit and 64-bit lengths (the 2**63 one a peer may announce, §5.2)."""
    if length == 2 ** 63:  # beyond what we encode, but a peer may announce it
        wire = bytes([0x82, (0x80 if mask else 0) | 127]) + struct.pack(">Q", length) + (mask or b"")
    else:
        wire = encode_header(Opcode.BINARY, True, length, mask)
    total = hlen + (4 if mask else 0)
    assert len(wire) == total
    header = parse_header(wire)
    assert (header.length, header.header_length, header.mask) == (length, total, mask)
    # Every prefix is "incomplete", never a wrong header.
    for cut in range(total):
        assert parse_header(wire[:cut]) is None
    # Parsing at an offset, within a bound, reads the same frame.
    assert parse_header(b"junk" + wire + b"more", 4, 4 + total) == header
    assert parse_header(b"junk" + wire, 4, 4 + total - 1) is None


def test_the_126_and_127_markers_are_not_lengths():
    assert encode_header(Opcode.BINARY, True, 126)[:2] == b"\x82\x7e"
    assert encode_header(Opcode.BINARY, True, 127)[:2] == b"\x82\x7e"
    assert parse_header(b"\x82\x7e\x00\x7e").length == 126


def test_reserved_bits_are_decoded_and_refused():
    header = parse_header(b"\xf2\x80" + KEY)
    assert header.rsv == 0x70 and header.fin and header.opcode == 2
    with pytest.raises(FramingError, match="reserved bits") as err:
        check_header(header, client=False, in_message=False)
    assert err.value.code == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("wire, client, in_message, code, reason", [
    (b"\x82\x00", False, False, 1002, "Frame not masked"),      # a client must mask (§5.1)
    (b"\x82\x80" + KEY, True, False, 1002, "Frame masked"),      # a server must not
    (b"\x81\x80" + KEY, False, False, 1003, "Text frames"),      # we carry binary only
    (b"\x80\x80" + KEY, False, False, 1002, "Unexpected continuation"),
    (b"\x82\x80" + KEY, False, True, 1002, "Unexpected new frame"),
    (b"\x83\x80" + KEY, False, False, 1003, "Unknown opcode 0x03"),
    (b"\x8b\x80" + KEY, False, False, 1003, "Unknown opcode 0x0b"),
    (b"\x09\x80" + KEY, False, False, 1002, "bad control frame"),  # control frames are never fragmented
    (b"\x89\xfe\x00\x7e" + KEY, False, False, 1002, "bad control frame"),  # nor longer than 125 (§5.5)
])
def test_what_a_binary_reader_refuses(wire, client, in_message, code, reason):
    with pytest.raises(FramingError, match=reason) as err:
        check_header(parse_header(wire), client=client, in_message=in_message)
    assert err.value.code == code and err.value.reason == str(err.value)


@pytest.mark.parametrize("wire, client, in_message", [
    (b"\x82\x80" + KEY, False, False), (b"\x02\x00", True, False), (b"\x00\x80" + KEY, False, True),
    (b"\x89\xfd" + KEY, False, True), (b"\x88\x00", True, False), (b"\x8a\x80" + KEY, False, False),
])
def test_what_a_binary_reader_accepts(wire, client, in_message):
    check_header(parse_header(wire), client=client, in_message=in_message)


def test_message_too_big_is_a_framing_error_with_1009():
    assert issubclass(MessageTooBig, FramingError)
    assert MessageTooBig("x").code == CloseCode.MESSAGE_TOO_BIG == 1009
    assert FramingError("x", 1003).code == 1003


@pytest.mark.parametrize("payload, expected", [
    (b"", (None, None)), (b"\x03", (None, None)), (b"\x03\xe8", (1000, None)),
    (b"\x03\xe9bye", (1001, "bye")), (struct.pack(">H", 4000) + "é".encode(), (4000, "é")),
])
def test_parse_close(payload, expected):
    assert parse_close(payload) == expected


def test_parse_close_refuses_a_reason_that_is_not_utf8():
    with pytest.raises(FramingError, match="Invalid UTF-8") as err:
        parse_close(b"\x03\xe8\xff")
    assert err.value.code == 1002


# -- masking ---------------------------------------------------------------------------------------

@given(payload=st.binary(max_size=300), key=st.binary(min_size=4, max_size=4))
def test_xor_mask_is_its_own_inverse(payload, key):
    masked = xor_mask(payload, key)
    assert masked == bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    assert xor_mask(masked, key) == payload


def test_frame_buffer_frames_a_payload_in_place():
    fb = FrameBuffer(4096)
    fb.payload[:5] = b"Hello"
    assert bytes(fb.frame(5)) == b"\x82\x05Hello"
    fb.payload[:300] = b"x" * 300
    framed = bytes(fb.frame(300, KEY))
    header = parse_header(framed)
    assert (header.length, header.mask, header.header_length) == (300, KEY, 8)
    assert xor_mask(framed[8:], KEY) == b"x" * 300


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=5000), key=st.binary(min_size=4, max_size=4), start=st.integers(0, 7),
       phase=st.integers(0, 3))
def test_masking_without_numpy_equals_numpy(monkeypatch, payload, key, start, phase):
    """The pure-Python agent install (no numpy) masks exactly as the numpy path does."""
    fast = wsframe.FrameBuffer(8192)
    fast.buf[start:start + len(payload)] = payload
    fast.xor(start, len(payload), key, phase)
    expected_whole = wsframe.xor_mask(payload, key)
    with monkeypatch.context() as m:
        m.setattr(wsframe, "numpy", None)
        slow = wsframe.FrameBuffer(8192)
        slow.buf[start:start + len(payload)] = payload
        slow.xor(start, len(payload), key, phase)
        assert wsframe.xor_mask(payload, key) == expected_whole
    assert slow.buf[start:start + len(payload)] == fast.buf[start:start + len(payload)]
    rotated = key[phase:] + key[:phase]
    assert bytes(fast.buf[start:start + len(payload)]) == bytes(
        b ^ rotated[i % 4] for i, b in enumerate(payload))
