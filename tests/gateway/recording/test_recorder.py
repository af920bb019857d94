"""The recorder beside a real relay (gevent sockets, the gateway's Relay): the relayed bytes
are the same with recording on, the file holds them, and a disk that is full or too slow
stops the recording, never the session."""

from __future__ import annotations

import os
import time
import uuid

import gevent
import gevent.socket as gsocket
import pytest

from agents.websocket import FramedWebSocket
from gateway.recording import format as fmt
from gateway.recording.recorder import BEHIND, Recorder
from gateway.recording.storage import FileSink, FolderStorage
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
    parts = [os.urandom(n % 97) for n in range(3000)]  # more pieces than one writev takes (IOV_MAX)
    sink.writev(parts)
    sink.close()
    assert (tmp_path / "f").read_bytes() == b"".join(parts)
