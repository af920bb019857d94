"""The WebSocket I/O driver (agents/websocket.py): ``pump`` over real sockets, the numpy-free install.

The parser it drives is tested with bytes only in ``test_cutthrough.py``;
here the same property runs end to end through socketpairs: whatever the
fragmentation (§5.4), interleaved pings (§5.5.2), masks (§5.3) and TCP
chunking, the messages that come out of the sink are exactly the messages
that went in, the pings are answered, and a peer's close ends the pump.
"""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.websocket import FramedWebSocket
from tests.support.wsframes import fragmented
from tests.support.wsframes import frame as _frame


def _server_ws(sock: socket.socket, client: bool = False, max_message: int = 1 << 20) -> FramedWebSocket:
    return FramedWebSocket.established(sock, client=client, max_message=max_message)


messages_st = st.lists(st.binary(max_size=3000), min_size=1, max_size=6)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=messages_st, data=st.data())
def test_pump_delivers_messages_unchanged(messages, data):
    _pump_and_check(messages, data, tee=None)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=messages_st, data=st.data())
def test_a_tee_sees_exactly_the_payload_and_changes_nothing_relayed(messages, data):
    # Session recording taps the screen pump: what the sink gets is unchanged,
    # and the tee gets the payload bytes in order, no frame headers, no pings.
    seen = []
    _pump_and_check(messages, data, tee=lambda pieces: seen.extend(bytes(p) for p in pieces))
    assert b"".join(seen) == b"".join(messages)
    assert all(seen)  # empty pieces (bare headers of empty fragments) are not payload


def _pump_and_check(messages, data, tee):
    # websockify's reader (the check here) takes an empty *first* fragment for "no
    # message started" and rejects the continuation; RFC 6455 allows it, and the pump
    # forwards it as is (02 00 80 01 00), so only the reader needs the first cut > 0.
    wire = fragmented(messages, data, first_cut=1)
    chunk = data.draw(st.integers(1, 4096))

    a_peer, a_sock = socket.socketpair()
    b_sock, b_peer = socket.socketpair()
    source, sink, reader = _server_ws(a_sock), _server_ws(b_sock), _server_ws(b_peer, client=True)
    counted = []

    def feed():
        for i in range(0, len(wire), chunk):
            a_peer.sendall(wire[i:i + chunk])

    def drain_peer():  # pongs and the close reply come back to the writer side
        try:
            while a_peer.recv(65536):
                pass
        except OSError:
            pass

    threads = [threading.Thread(target=feed), threading.Thread(target=drain_peer, daemon=True)]
    for t in threads:
        t.start()
    pump = threading.Thread(target=lambda: (source.pump(sink, counted.append, tee=tee), sink.close_with(1000)))
    pump.start()
    received = []
    reader.settimeout(10)
    while (message := reader.read_message()) is not None:
        received.append(message)
    pump.join(10)
    threads[0].join(10)
    for s in (a_peer, a_sock, b_sock, b_peer):
        s.close()
    assert received == messages
    assert sum(counted) == sum(len(m) for m in messages)
    assert source.close_code == 1000


def test_pump_refuses_a_message_larger_than_the_limit():
    a_peer, a_sock = socket.socketpair()
    b_sock, b_peer = socket.socketpair()
    source, sink = _server_ws(a_sock, max_message=1000), _server_ws(b_sock)
    a_peer.sendall(_frame(0x2, b"x" * 600, False, os.urandom(4)) + _frame(0x0, b"y" * 600, True, os.urandom(4)))
    source.pump(sink)
    assert source.close_code == 1009
    a_peer.settimeout(5)
    reply = a_peer.recv(100)
    assert reply[:2] == b"\x88\x02" or reply[0] == 0x88  # a close frame …
    assert struct.unpack(">H", reply[2:4])[0] == 1009     # … saying "message too big"
    for s in (a_peer, a_sock, b_sock, b_peer):
        s.close()


def test_agent_imports_and_relays_without_numpy():
    """``pip install --no-deps -r requirements-agent.txt`` brings no numpy: the agent must work."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['numpy'] = None\n"
        "import warnings; warnings.simplefilter('error')\n"
        "import socket, struct, agents.runtime, agents.forward, agents.stream\n"
        "from agents import websocket\n"
        "from agents.protocol import wsframe\n"
        "assert wsframe.numpy is None\n"
        "a, b = socket.socketpair()\n"
        "w = websocket.FramedWebSocket.established(a, client=True)\n"
        "r = websocket.FramedWebSocket.established(b, client=False)\n"
        "fb = websocket.FrameBuffer(4096); fb.payload[:5] = b'hello'\n"
        "w.write_buffer(fb, 5); w.write_message(b'x' * 3000)\n"
        "assert r.read_message() == b'hello' and r.read_message() == b'x' * 3000\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_pump_to_a_plain_socket_answers_pings_and_the_close():
    """Payload only to a TCP sink; the ping gets its pong and the close its reply, on the source's socket."""
    a_peer, a_sock = socket.socketpair()
    b_sock, b_peer = socket.socketpair()
    source = _server_ws(a_sock)
    a_peer.sendall(_frame(0x2, b"abc", False, os.urandom(4)) + _frame(0x9, b"hi", True, os.urandom(4))
                   + _frame(0x0, b"def", True, os.urandom(4)) + _frame(0x8, struct.pack(">H", 1001) + b"bye",
                                                                       True, os.urandom(4)))
    counted = []
    source.pump(b_sock, counted.append)
    b_sock.close()
    assert b_peer.recv(100) == b"abcdef" and sum(counted) == 6
    assert (source.close_code, source.close_reason) == (1001, "bye")
    a_peer.settimeout(5)
    replies = b""
    while chunk := a_peer.recv(100):
        replies += chunk
    assert replies == b"\x8a\x02hi" + b"\x88\x05" + struct.pack(">H", 1001) + b"bye"
    for s in (a_peer, b_peer):
        s.close()


class _Trickle:
    """A socket that takes at most ``step`` bytes per sendmsg, and fails after ``fail_after`` calls."""

    def __init__(self, step: int, fail_after: int | None = None):
        self.step, self.fail_after, self.calls, self.out = step, fail_after, 0, bytearray()

    def sendmsg(self, parts):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise BrokenPipeError("gone")
        self.calls += 1
        data = b"".join(bytes(p) for p in parts)[:self.step]
        self.out += data
        return len(data)


@pytest.mark.parametrize("step", [1, 3, 7, 64, 10_000])
def test_partial_writes_send_every_byte_in_order(step):
    ws = FramedWebSocket.established(_Trickle(step), client=False)
    parts = [b"\x82\x05", b"hello", memoryview(b"\x80\x03abc"), b"", b"\x80\x00"]
    ws._send_parts(list(parts))
    assert bytes(ws.socket.out) == b"".join(bytes(p) for p in parts)
    assert ws.socket.calls == -(-len(ws.socket.out) // step)


def test_a_write_torn_by_a_failure_keeps_the_rest_for_the_close():
    ws = FramedWebSocket.established(_Trickle(4, fail_after=2), client=False)
    with pytest.raises(BrokenPipeError):
        ws._send_parts([b"\x82\x05", b"hello", b"\x82\x01", b"!"])
    assert bytes(ws.socket.out) == b"\x82\x05hello\x82"  # two writes of 4 bytes
    assert ws._unsent == b"\x01!"
