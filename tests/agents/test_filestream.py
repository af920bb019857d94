"""The file stream's messages (``filestream``): round trips, and junk refused."""

from __future__ import annotations

import pytest

from agents.protocol import filestream as fs
from agents.protocol.errors import FileStreamError


@pytest.mark.parametrize("event", [
    fs.Data(b""), fs.Data(b"\x00" * fs.CHUNK), fs.End(), fs.Header("a.txt", 0), fs.Saved("b (2).txt", 2**40),
    fs.Failed("too_large", "over the limit"),
    fs.Listing(("Downloads", "Desktop"), (fs.Entry(0, "a", 1, 1.5), fs.Entry(1, "b", 0, 0.0))),
    fs.Header("c.bin", 50, 20, True), fs.Header("d.bin", 50, 0, True), fs.From(0), fs.From(2**40), fs.Discard()])
def test_round_trip(event):
    assert fs.decode(fs.encode(event)) == event


@pytest.mark.parametrize("raw,why", [
    (b"", "empty"), (b"X", "unknown"), (b"E1", "end marker"), (b"D" + bytes(fs.CHUNK + 1), "larger"),
    (b"J[]", "object"), (b"Jnope", "JSON"), (b'J{"type":"rm"}', "type"),
    (b'J{"type":"header","name":"a","size":-1}', "'size'"), (b'J{"type":"header","name":"a","size":true}', "'size'"),
    (b'J{"type":"saved","name":7,"size":1}', "'name'"),
    (b'J{"type":"from","offset":-1}', "'offset'"), (b'J{"type":"from"}', "'offset'"),
    (b'J{"type":"header","name":"a","size":1,"offset":"2","resumable":true}', "'offset'"),
    (b'J{"type":"listing","folders":["a"],"files":[{"folder":1,"name":"x","size":1,"mtime":0}]}', "folder not"),
    (b'J{"type":"listing","folders":["a"],"files":[{"folder":0,"name":"x","size":1,"mtime":NaN}]}', "'mtime'"),
])
def test_junk_is_refused(raw, why):
    with pytest.raises(FileStreamError, match=why):
        fs.decode(raw)


def test_strings_are_cleaned_and_unknown_failures_become_io():
    event = fs.decode(b'J{"type":"failed","code":"boom","message":"a\\nb\\u202e"}')
    assert event == fs.Failed("io", "a b")


def test_a_header_without_resumable_is_a_plain_one():
    """An older agent's header (or one saying anything but true) does not offer to resume."""
    assert fs.decode(b'J{"type":"header","name":"a","size":5,"offset":3}') == fs.Header("a", 5)
    assert fs.decode(b'J{"type":"header","name":"a","size":5,"offset":3,"resumable":1}') == fs.Header("a", 5)
    assert fs.encode(fs.Header("a", 5)) == b'J{"type":"header","name":"a","size":5}'
