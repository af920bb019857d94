"""The recording file format (gateway/recording/format.py), bytes only."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.recording import format as fmt

META = {"session": "a" * 32, "machine": "pc", "user": "emp", "started": 1764600000.0}


def build(records, *, ending=True, stopped=""):
    """A file from ``(ms, data)`` records, chunked as the recorder chunks them."""
    out = [fmt.header(META)]
    builder = fmt.ChunkBuilder()
    for ms, data in records:
        if builder.due(ms):
            out.append(builder.seal())
        builder.add(ms, data)
        if builder.raw_len >= fmt.CHUNK_BYTES:
            out.append(builder.seal())
    if not builder.empty:
        out.append(builder.seal())
    if ending:
        out.append(fmt.end(records[-1][0] + 10 if records else 0, stopped))
    return b"".join(out)


records_st = st.lists(st.tuples(st.integers(0, 4000), st.binary(max_size=2000)), max_size=40).map(
    lambda rs: sorted(rs, key=lambda r: r[0]))


@settings(max_examples=50, deadline=None)
@given(records_st)
def test_round_trip(records):
    data = build(records)
    parsed = fmt.scan(fmt.from_bytes(data))
    assert parsed.meta == META
    assert [(r.ms, r.direction, r.data) for r in fmt.records(fmt.from_bytes(data))] == \
        [(ms, fmt.PC_TO_VIEWER, d) for ms, d in records]
    assert parsed.ending == {"duration_ms": records[-1][0] + 10 if records else 0, "stopped": ""}
    # The index covers the records in order, each chunk's times within it.
    for entry in parsed.index:
        inside = [r.ms for r in fmt.raw_records(fmt.chunk_raw(fmt.from_bytes(data), entry))]
        assert inside and inside[0] == entry.first_ms and inside[-1] == entry.last_ms
        assert entry.last_ms - entry.first_ms < fmt.CHUNK_MS


def test_a_file_cut_short_plays_up_to_its_last_whole_chunk():
    records = [(i * 600, os.urandom(100)) for i in range(10)]
    whole = build(records, ending=False)
    index = fmt.scan(fmt.from_bytes(whole)).index
    assert len(index) >= 3
    cut = whole[:index[-1].offset + 20]  # the last chunk's header and part of its body
    parsed = fmt.scan(fmt.from_bytes(cut))
    assert parsed.ending is None
    assert parsed.index == index[:-1]
    assert fmt.duration_ms(parsed) == index[-2].last_ms


def test_the_end_block_says_why_recording_stopped():
    data = build([(0, b"x")], stopped="Recording stopped: No space left on device")
    parsed = fmt.scan(fmt.from_bytes(data))
    assert parsed.ending["stopped"] == "Recording stopped: No space left on device"
    assert fmt.duration_ms(parsed) == 10


def test_big_records_split_into_chunks_of_bounded_size():
    blob = os.urandom(200 * 1024)
    data = build([(i, blob) for i in range(5)])
    index = fmt.scan(fmt.from_bytes(data)).index
    assert len(index) >= 3 and all(e.raw_len < 2 * fmt.CHUNK_BYTES for e in index)


def test_idle_periods_are_the_gaps_between_chunks():
    data = build([(0, b"a"), (200, b"b"), (30_000, b"c"), (31_000, b"d")])
    parsed = fmt.scan(fmt.from_bytes(data))
    assert fmt.idle_periods(parsed.index) == [(200, 30_000)]


@pytest.mark.parametrize("junk, message", [
    (b"", "too short"),
    (b"NOTAREC!" + bytes(6), "not a Ponte recording"),
    (fmt.MAGIC + b"\x00\x09" + bytes(4), "version 9"),
    (fmt.MAGIC + b"\x00\x01\x00\x00\x00\x05{", "damaged"),
])
def test_not_a_recording(junk, message):
    with pytest.raises(fmt.FormatError, match=message):
        fmt.scan(fmt.from_bytes(junk))


def test_data_that_does_not_shrink_is_stored_not_deflated_and_reads_the_same():
    # Video from the PC is Tight/ZRLE/JPEG already: deflating it again costs a core for nothing.
    builder = fmt.ChunkBuilder(level=1)
    noise = os.urandom(fmt.CHUNK_BYTES)
    chunks = []
    for i in range(3):
        builder.add(i, noise)
        chunks.append(builder.seal())
    builder.add(3, bytes(fmt.CHUNK_BYTES))  # zeros: stored too, for the next STORE_CHUNKS chunks
    chunks.append(builder.seal())
    data = fmt.header(META) + b"".join(chunks) + fmt.end(4)
    assert [r.data for r in fmt.records(fmt.from_bytes(data))] == [noise] * 3 + [bytes(fmt.CHUNK_BYTES)]
    index = fmt.scan(fmt.from_bytes(data)).index
    assert all(e.stored for e in index)  # a slice of the first one told: noise
    assert index[-1].packed_len == index[-1].raw_len  # stored: the raw bytes, no zlib


def test_a_writer_in_a_hurry_stores_chunks_and_they_read_the_same():
    packer = fmt.Packer(level=6)
    raw = bytes(fmt.CHUNK_BYTES)  # zeros: deflate would shrink them, a hurried writer does not try
    head, body = packer.pack(5, 9, raw, hurry=True)
    data = fmt.header(META) + head + body + b"".join(packer.pack(10, 11, raw)) + fmt.end(12)
    index = fmt.scan(fmt.from_bytes(data)).index
    assert [e.stored for e in index] == [True, False]
    assert [(e.first_ms, e.last_ms) for e in index] == [(5, 9), (10, 11)]
    assert [fmt.chunk_raw(fmt.from_bytes(data), e) for e in index] == [raw, raw]


def test_a_stored_chunk_cut_short_is_not_read():
    head, body = fmt.Packer().pack(0, 1, os.urandom(1000), hurry=True)
    data = fmt.header(META) + head + body[:-1]
    assert fmt.scan(fmt.from_bytes(data)).index == []


def test_a_chunk_buffer_given_back_builds_the_next_chunks_with_nothing_of_the_old_ones():
    builder = fmt.ChunkBuilder()
    big = os.urandom(300_000)
    builder.add_pieces(1, (memoryview(big)[:100_000], memoryview(big)[100_000:]), len(big))
    first, last, raw = builder.take()
    assert (first, last) == (1, 1) and bytes(raw[9:]) == big
    used = raw.obj
    builder.give_back(raw)  # written: the chunk after the one being built goes there
    builder.add(5, b"meanwhile")
    _, _, between = builder.take()
    assert between.obj is not used and builder._buf is used
    builder.add(7, b"short")  # in the same memory, much shorter than what was there
    _, _, again = builder.take()
    assert again.obj is used
    assert [(r.ms, r.data) for r in fmt.raw_records(bytes(again))] == [(7, b"short")]


def test_a_buffer_still_read_elsewhere_is_not_reused():
    builder = fmt.ChunkBuilder()
    builder.add(1, b"x" * 10)
    _, _, raw = builder.take()
    held = raw.obj
    reader = raw[9:12]  # a view someone still holds
    builder.give_back(raw)
    for ms in (2, 3):  # the next two chunks: neither is built in the held buffer
        builder.add(ms, b"y" * 50_000)
        _, _, chunk = builder.take()
        assert chunk.obj is not held
        assert [r.data for r in fmt.raw_records(bytes(chunk))] == [b"y" * 50_000]
        builder.give_back(chunk)
    assert bytes(reader) == b"xxx"
