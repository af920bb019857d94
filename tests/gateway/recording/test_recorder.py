"""The recorder beside a real relay (gevent sockets, the gateway's Relay): the relayed bytes
are the same with recording on, the file holds them, and a disk that is full or too slow
stops the recording, never the session."""

from __future__ import annotations

import errno
import os
import time
import uuid

import gevent
import gevent.socket as gsocket
import pytest

from agents.websocket import FramedWebSocket
from gateway.recording import format as fmt
from gateway.recording.recorder import BEHIND, Recorder
from gateway.recording.storage import BLOCK, MAX_STAGE, FileSink, FolderStorage
from gateway.relay import Relay


def _pair():
    """(the gateway's end, the peer's end) of one WebSocket over a socketpair."""
    a, b = gsocket.socketpair()
    return FramedWebSocket.established(a, client=False), FramedWebSocket.established(b, client=True)


def relay_session(messages, tee=None, timeout=20.0):
    """Relay ``messages`` agent → viewer through a real Relay; the messages the viewer got."""
    viewer_ws, viewer_peer = _pair()
    agent_ws, agent_peer = _pair()
    relay = Relay("s", viewer_ws, agent_ws, machine_id=1, user_id=1, tee=tee)
    running = gevent.spawn(relay.run)
    received = []

    def read():
        while (message := viewer_peer.read_message()) is not None:
            received.append(message)

    reader = gevent.spawn(read)
    for message in messages:
        agent_peer.write_message(message)
    total = sum(len(m) for m in messages)
    deadline = time.monotonic() + timeout
    while sum(len(m) for m in received) < total and time.monotonic() < deadline and not running.dead:
        gevent.sleep(0.01)
    relay.stop("test over")
    result = running.get(timeout=5)
    reader.join(timeout=5)
    agent_peer.close_with(1000)
    return received, result


def messages(n=200, size=8192):
    return [os.urandom(size // 2) + bytes(size // 2) for _ in range(n)]


@pytest.fixture
def storage(tmp_path):
    return FolderStorage(tmp_path / "recordings")


def test_recording_changes_nothing_relayed_and_keeps_every_byte(storage):
    sent = [b"RFB 003.008\n", b"\x01\x01", bytes(4)] + messages()
    session = uuid.uuid4().hex
    recorder = Recorder(storage, session, {"session": session}).start()
    received, result = relay_session(sent, tee=recorder.tee)
    assert recorder.close() is None
    assert received == sent
    assert result.reason == "test over"
    with storage.open(session) as reader:
        parsed = fmt.scan(reader.read_at)
        recorded = b"".join(r.data for r in fmt.records(reader.read_at))
    assert recorded == b"".join(sent)  # from the RFB ProtocolVersion on: a player can replay it
    assert parsed.meta["session"] == session and parsed.ending["stopped"] == ""
    assert recorder.bytes_written < recorder.bytes_in  # compressed (half of each message is zeros)


class SlowSink(FileSink):
    """A disk that takes 0.3 s per write (a shared folder over a slow link)."""

    def write(self, data):
        time.sleep(0.3)  # in the recorder's threadpool thread, as a slow disk would block it
        super().write(data)

    def writev(self, parts):
        time.sleep(0.3)
        super().writev(parts)


class SlowStorage(FolderStorage):
    def create(self, session):
        self.root.mkdir(parents=True, exist_ok=True)
        return SlowSink(self.path(session))


def test_a_writer_that_falls_behind_stops_the_recording_not_the_session(tmp_path):
    storage = SlowStorage(tmp_path / "recordings")
    session = uuid.uuid4().hex
    told = []
    recorder = Recorder(storage, session, {}, max_queue=256 * 1024, on_stop=told.append).start()
    sent = messages(400)  # 3.2 MB, far more than the queue
    received, _ = relay_session(sent, tee=recorder.tee)
    assert received == sent  # the session got everything, at the relay's speed
    assert recorder.close() == BEHIND
    gevent.sleep(0.1)
    assert told == [BEHIND]
    with storage.open(session) as reader:  # what was written still plays, and says why it stops
        assert fmt.scan(reader.read_at).ending["stopped"] == BEHIND


def test_a_full_disk_stops_the_recording_not_the_session(storage):
    session = uuid.uuid4().hex
    storage.root.mkdir(parents=True)
    os.symlink("/dev/full", storage.path(session))  # every write: ENOSPC, as on a full disk
    told = []
    recorder = Recorder(storage, session, {}, on_stop=told.append).start()
    sent = messages(50)
    received, _ = relay_session(sent, tee=recorder.tee)
    assert received == sent
    assert recorder.close() == "Recording stopped: No space left on device"
    gevent.sleep(0.1)
    assert told == ["Recording stopped: No space left on device"]


def test_writev_writes_every_piece_in_order(tmp_path):
    sink = FileSink(tmp_path / "f")
    assert sink.direct  # ext4/tmpfs under tmp_path take O_DIRECT: the path the recorder uses
    parts = [os.urandom(n % 97) for n in range(3000)]
    sink.writev(parts)
    sink.close()
    assert (tmp_path / "f").read_bytes() == b"".join(parts)


@pytest.mark.parametrize("sizes", [
    [0], [1], [BLOCK - 1, 1], [BLOCK], [BLOCK + 1, 5, 3 * BLOCK - 7],
    [MAX_STAGE + 12345],  # one piece larger than the staging buffer
    [300 * 1024] * 20,  # a batch larger than it (a writer catching up)
])
def test_direct_writes_of_any_length_and_alignment_add_up_to_the_file(tmp_path, sizes):
    sink = FileSink(tmp_path / "f")
    written = b""
    for n in sizes:  # one call each: every call leaves a partial block for the next to rewrite
        data = os.urandom(n)
        sink.write(data)
        written += data
        on_disk = (tmp_path / "f").read_bytes()
        assert on_disk[:len(written)] == written  # on the disk before the call returns
        assert on_disk[len(written):] == bytes(len(on_disk) - len(written))  # then only padding
        assert len(on_disk) % BLOCK == 0 and len(on_disk) - len(written) < BLOCK
    sink.close()
    assert (tmp_path / "f").read_bytes() == written  # the padding is cut off


def test_a_file_cut_short_in_its_padding_still_plays_up_to_its_last_chunk(tmp_path):
    """A node that dies leaves the last block's zeros: the reader takes them for the end."""
    sink = FileSink(tmp_path / "f")
    builder = fmt.ChunkBuilder(1)
    sink.write(fmt.header({"session": "s"}))
    builder.add(5, b"RFB 003.008\n")
    sink.write(builder.seal())
    path = tmp_path / "f"
    assert path.stat().st_size % BLOCK == 0  # not closed: the padding is there
    with open(path, "rb") as f:
        data = f.read()
    parsed = fmt.scan(fmt.from_bytes(data))
    assert len(parsed.index) == 1 and parsed.ending is None
    assert [r.data for r in fmt.records(fmt.from_bytes(data))] == [b"RFB 003.008\n"]
    sink.close()


def test_a_file_system_without_direct_io_gets_the_same_bytes_buffered(tmp_path, monkeypatch):
    real_open = os.open

    def refusing(path, flags, *args):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing)
    sink = FileSink(tmp_path / "f")
    assert not sink.direct
    data = os.urandom(3 * BLOCK + 17)
    sink.write(data[:100])
    sink.writev([data[100:], b""])
    sink.close()
    assert (tmp_path / "f").read_bytes() == data
