"""The relay's cut-through parser (agents/protocol/cutthrough.py), with bytes only, against RFC 6455.

Whatever the fragmentation (§5.4), interleaved pings (§5.5.2), masks (§5.3)
and TCP chunking, the messages that come out are exactly the messages that
went in, and a peer's close ends the stream.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.protocol.cutthrough import Control, CutThrough, Fail, Forward
from agents.protocol.wsframe import Opcode, parse_close, parse_header
from tests.support.wsframes import fragmented
from tests.support.wsframes import frame as _frame


def _feed(parser: CutThrough, wire: bytes, chunk: int, *, zero_copy: bool = True):
    """Run ``wire`` through ``parser`` ``chunk`` bytes per read: (bytes out, data counted, other commands)."""
    out, counted, others = bytearray(), [], []
    pos = 0
    while pos < len(wire) and not parser.done:
        if zero_copy:  # the driver's path: read straight into the parser's buffer
            into = parser.read_buffer(chunk)
            piece = wire[pos:pos + len(into)]
            into[:len(piece)] = piece
            commands = parser.received(len(piece))
        else:
            piece = wire[pos:pos + chunk]
            commands = parser.receive(piece)
        pos += len(piece)
        for command in commands:  # carried out before the next read, as the driver does
            if isinstance(command, Forward):
                for part in command.parts:
                    out += part
                if command.payload:
                    counted.append(command.payload)
            else:
                others.append(command)
    return bytes(out), counted, others


def _messages(stream: bytes) -> list[bytes]:
    """Reassemble unmasked re-framed output, strictly: a BINARY starts, CONTINUATIONs follow."""
    messages, current, pos = [], None, 0
    while pos < len(stream):
        header = parse_header(stream, pos)
        assert header is not None and header.mask is None and not header.rsv
        body = stream[pos + header.header_length:pos + header.header_length + header.length]
        assert len(body) == header.length
        pos += header.header_length + header.length
        if current is None:
            assert header.opcode == Opcode.BINARY
            current = bytearray()
        else:
            assert header.opcode == Opcode.CONTINUATION
        current += body
        if header.fin:
            messages.append(bytes(current))
            current = None
    assert current is None
    return messages


messages_st = st.lists(st.binary(max_size=3000), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=messages_st, data=st.data())
def test_delivers_messages_unchanged(messages, data):
    wire = fragmented(messages, data)
    chunk = data.draw(st.integers(1, 4096))
    out, counted, others = _feed(CutThrough(max_message=1 << 20), wire, chunk,
                                 zero_copy=data.draw(st.booleans()))
    assert _messages(out) == messages
    assert sum(counted) == sum(len(m) for m in messages)
    assert all(c == Control(Opcode.PING, b"ping") for c in others[:-1])
    close = others[-1]
    assert isinstance(close, Control) and close.opcode == Opcode.CLOSE
    assert parse_close(close.payload) == (1000, None)


@settings(max_examples=60, deadline=None)
@given(messages=messages_st, data=st.data())
def test_any_split_forwards_the_same_bytes(messages, data):
    """Chunking invariance: however TCP cut the stream, the payload forwarded is the same bytes."""
    wire = fragmented(messages, data)
    whole = _feed(CutThrough(reframe=False), wire, len(wire))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(wire) - 1), max_size=20))))
    parser = CutThrough(reframe=False)
    out, counted, others = bytearray(), 0, []
    for a, b in zip([0, *cuts], [*cuts, len(wire)]):
        for command in parser.receive(wire[a:b]):
            if isinstance(command, Forward):
                out += b"".join(command.parts)
                counted += command.payload
            else:
                others.append(command)
    assert bytes(out) == whole[0] == b"".join(messages)
    assert counted == sum(whole[1])
    assert others == whole[2]


def test_unmasked_frames_for_a_client_and_an_empty_first_fragment():
    """As the agent's side (client): frames come unmasked; an empty first fragment is forwarded as is."""
    wire = _frame(0x2, b"", False, None) + _frame(0x0, b"ab", True, None)
    out, counted, others = _feed(CutThrough(client=True), wire, 3)
    assert out == b"\x02\x00\x80\x02ab" and counted == [2] and others == []


def test_refuses_a_message_larger_than_the_limit():
    parser = CutThrough(max_message=1000)
    wire = _frame(0x2, b"x" * 600, False, os.urandom(4)) + _frame(0x0, b"y" * 600, True, os.urandom(4))
    out, counted, others = _feed(parser, wire, len(wire))
    assert _messages(out + b"\x80\x00") == [b"x" * 600]  # the first fragment went on before the second's header
    assert others == [Fail(1009, "Message too big")] and parser.done
    assert CutThrough(max_message=10).receive(_frame(0x2, b"x" * 11, True, b"abcd")) == [Fail(1009, "Message too big")]


def test_protocol_errors_fail_with_the_close_code():
    assert CutThrough().receive(_frame(0x2, b"x", True, None)) == [Fail(1002, "Procotol error: Frame not masked")]
    assert CutThrough().receive(_frame(0x1, b"x", True, b"abcd")) == [
        Fail(1003, "Unsupported: Text frames are not supported")]
    bad_close = _frame(0x8, b"\x03\xe8\xff", True, b"abcd")
    assert CutThrough().receive(bad_close) == [Fail(1002, "Procotol error: Invalid UTF-8 in close", in_close=True)]


def test_nothing_is_parsed_after_a_close():
    parser = CutThrough()
    wire = _frame(0x8, b"", True, b"abcd") + _frame(0x2, b"late", True, b"abcd")
    assert parser.receive(wire) == [Control(Opcode.CLOSE, b"")]
    assert parser.done and parser.receive(b"more") == []


def test_the_buffer_grows_under_bulk_traffic_and_keeps_a_partial_header():
    parser = CutThrough(size=64 * 1024, start_size=1024)
    first = parser.read_buffer()
    assert len(first) == 1024
    wire = _frame(0x2, b"z" * 1013, True, b"abcd") + _frame(0x2, b"q" * 5000, True, b"abcd")
    first[:] = wire[:1024]  # fills it: the whole first frame and 3 bytes of the next header
    commands = parser.received(1024)
    assert [bytes(b"".join(c.parts))[2 + 2:] for c in commands] == [b"z" * 1013]
    bigger = parser.read_buffer()
    assert len(bigger) == 64 * 1024 - 3
    bigger[:len(wire) - 1024] = wire[1024:]
    (forward,) = parser.received(len(wire) - 1024)
    assert forward.payload == 5000 and bytes(forward.parts[1]) == b"q" * 5000


def test_messages_from_before_the_parser_took_over():
    parser = CutThrough()
    whole = parser.message(b"hi")
    start = parser.resume(b"par")
    rest = parser.receive(_frame(0x0, b"tial", True, b"abcd"))
    stream = b"".join(bytes(p) for c in [whole, start, *rest] for p in c.parts)
    assert _messages(stream) == [b"hi", b"partial"] and (whole.payload, start.payload) == (2, 3)
    # A resumed message counts against the limit as a whole.
    small = CutThrough(max_message=5)
    small.resume(b"abcd")
    assert small.receive(_frame(0x0, b"ef", True, b"abcd")) == [Fail(1009, "Message too big")]
