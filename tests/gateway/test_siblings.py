"""Workers of one machine hand each other agent streams, socket and all (``gateway.siblings``).

Real sockets: a TCP connection whose server end one ``Siblings`` gives and
another receives, as two workers do; the giver's descriptor is closed, as
the HTTP server closes it once the route returns.
"""

from __future__ import annotations

import os
import socket as stdlib_socket
import stat

import gevent
import gevent.event
import pytest
from gevent import socket

from agents.websocket import FramedWebSocket
from gateway.errors import SiblingError
from gateway.siblings import Siblings
from tests.support.wsframes import frame

KEY = b"\x01\x02\x03\x04"


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "workers"
    path.mkdir(mode=0o700)
    return path


def _connection():
    """Both ends of a real TCP connection on loopback: (client, server side)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    server_side, _ = listener.accept()
    listener.close()
    return client, server_side


def _receiver(folder, name="box-w1"):
    got = gevent.event.AsyncResult()

    def receive(kind, ref, ws):
        message = ws.read_message()
        ws.write_message(b"echo:" + message)
        got.set((kind, ref, ws.protocol, message))

    siblings = Siblings(folder, name, receive, max_message=1 << 20)
    siblings.start()
    return siblings, got


def test_a_handed_over_stream_goes_on_in_the_sibling(folder):
    receiver, got = _receiver(folder)
    giver = Siblings(folder, "box-w0", None, max_message=1 << 20)
    try:
        assert giver.reaches("box-w1")
        assert not giver.reaches("box-w0")  # itself
        assert not giver.reaches("box-w7")  # no such worker
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        client, server_side = _connection()
        ws = FramedWebSocket.established(server_side, client=False)
        ws.protocol = "binary"
        giver.hand_over("box-w1", ws, "session", "s-123")
        server_side.close()  # the giver lets go of its own descriptor: the connection lives on
        client.sendall(frame(0x2, b"attach", True, KEY))
        assert got.get(timeout=5) == ("session", "s-123", "binary", b"attach")
        assert client.recv(100) == frame(0x2, b"echo:attach", True, None)
        # When the receiver is done with it, the connection closes: it was the last holder.
        client.settimeout(5)
        assert client.recv(100) == b""
    finally:
        receiver.close()
    assert not (folder / "box-w1.sock").exists()


def test_handing_to_a_gone_sibling_fails_and_the_giver_keeps_the_stream(folder):
    giver = Siblings(folder, "box-w0", None, max_message=1 << 20)
    receiver, _ = _receiver(folder)
    receiver.close()
    client, server_side = _connection()
    ws = FramedWebSocket.established(server_side, client=False)
    with pytest.raises(SiblingError):
        giver.hand_over("box-w1", ws, "session", "s-1")
    # The giver still owns a working stream.
    client.sendall(frame(0x2, b"still here", True, KEY))
    assert ws.read_message() == b"still here"
    client.close()
    server_side.close()


def test_a_stuck_sibling_is_given_up_on(folder, monkeypatch):
    monkeypatch.setattr("gateway.siblings.ACK_TIMEOUT", 0.5)
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.bind(str(folder / "box-w1.sock"))
    stuck.listen(1)  # accepts (in the kernel) but never answers
    giver = Siblings(folder, "box-w0", None, max_message=1 << 20)
    client, server_side = _connection()
    with pytest.raises(SiblingError, match="did not take"):
        giver.hand_over("box-w1", FramedWebSocket.established(server_side, client=False), "session", "s-1")
    for s in (stuck, client, server_side):
        s.close()


@pytest.mark.parametrize("junk, with_fd", [
    (b"", False),
    (b"not json", True),
    (b'{"kind": "session"}', True),                      # no ref
    (b'{"kind": "shell", "ref": "s-1"}', True),          # a kind no route has
    (b'{"kind": "session", "ref": 7}', True),
    (b'[1, 2]', True),
    (b'{"kind": "session", "ref": "s-1"}', False),       # no socket with it
    (b"x" * 5000, True),
])
def test_malformed_hand_overs_are_refused_and_the_receiver_goes_on(folder, junk, with_fd):
    receiver, got = _receiver(folder)
    try:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(str(folder / "box-w1.sock"))
        spare = stdlib_socket.socket()
        if with_fd:
            stdlib_socket.send_fds(raw, [junk], [spare.fileno()])
        elif junk:
            raw.sendall(junk)
        raw.settimeout(5)
        try:
            assert raw.recv(1) == b""  # closed without the acknowledgement
        except ConnectionResetError:
            pass  # or reset: it closed with our unread bytes (more than a hand-over may be)
        raw.close()
        spare.close()
        # A good hand-over still works afterwards.
        giver = Siblings(folder, "box-w0", None, max_message=1 << 20)
        client, server_side = _connection()
        giver.hand_over("box-w1", FramedWebSocket.established(server_side, client=False), "transfer", "t-1")
        server_side.close()
        client.sendall(frame(0x2, b"ok", True, KEY))
        assert got.get(timeout=5)[:2] == ("transfer", "t-1")
        client.close()
    finally:
        receiver.close()


def test_a_full_sibling_refuses_and_the_giver_keeps_the_stream(folder):
    """A handed socket counts in the receiver's connection limits (the giver's count let it go)."""
    from gateway.admission import ConnectionLimits

    limits = ConnectionLimits(total=2)
    held = [limits.admit("10.0.0.1"), limits.admit("10.0.0.2")]  # this worker is full
    assert limits.open == 2

    def admit(sock):
        slot = limits.admit(sock.getpeername()[0])
        return None if isinstance(slot, str) else (lambda: limits.release(slot))

    got = gevent.event.AsyncResult()
    receiver = Siblings(folder, "box-w1", lambda kind, ref, ws: got.set(ws.read_message()),
                        max_message=1 << 20, admit=admit)
    receiver.start()
    giver = Siblings(folder, "box-w0", None, max_message=1 << 20)
    try:
        client, server_side = _connection()
        ws = FramedWebSocket.established(server_side, client=False)
        with pytest.raises(SiblingError, match="refused"):
            giver.hand_over("box-w1", ws, "session", "s-1")
        client.sendall(frame(0x2, b"still mine", True, KEY))
        assert ws.read_message() == b"still mine"
        assert limits.open == 2 and limits.refused["total"] == 1
        # Room again: taken, counted while it lives, released when it ends.
        limits.release(held.pop())
        giver.hand_over("box-w1", ws, "session", "s-1")
        server_side.close()
        gevent.sleep(0.1)
        assert limits.open == 2
        client.sendall(frame(0x2, b"now yours", True, KEY))
        assert got.get(timeout=5) == b"now yours"
        gevent.sleep(0.1)
        assert limits.open == 1
        client.close()
    finally:
        receiver.close()
