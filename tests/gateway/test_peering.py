"""Node-to-node dialling (``peering.dial``) against a minimal WebSocket server on loopback."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading

import pytest

from gateway.errors import GatewayError, PeerUnreachable
from gateway.peering import dial

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


class OneShotServer:
    """Accepts one connection, answers its handshake with 101 (or ``reply``), sends one frame."""

    def __init__(self, reply: bytes | None = None):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.reply = reply
        self.request = b""
        self.first = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            while b"\r\n\r\n" not in self.request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                self.request += chunk
            if self.reply is not None:
                conn.sendall(self.reply)
                return
            key = next(line.split(b":", 1)[1].strip() for line in self.request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            # As a node does: speak once the client has (the client's handshake
            # reader may take bytes that arrive with the 101 as part of it).
            self.first = conn.recv(4096)
            conn.sendall(b"\x82\x05hello")  # one unmasked binary frame (server to client)
            conn.recv(1)  # hold the socket until the client has read

    def close(self) -> None:
        self.listener.close()


def test_dial_completes_the_handshake_on_the_internal_address(monkeypatch):
    # Node addresses are private: a proxy set for the internet must not be used for them.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    server = OneShotServer()
    try:
        ws = dial(server.address, "/ws/agent/stream/s-1", max_message=1024)
        ws.write_message(b"attach")
        assert ws.read_message() == b"hello"
        assert server.first[0] == 0x82 and server.first[1] & 0x80  # a client's frames are masked (§5.3)
        assert ws.socket.gettimeout() is None  # sessions idle for hours
        assert ws.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert ws.socket.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        ws.socket.close()
    finally:
        server.close()
    head = server.request.decode()
    assert head.startswith("GET /ws/agent/stream/s-1 HTTP/1.1\r\n")
    assert f"Host: {server.address}\r\n" in head


@pytest.mark.parametrize("reply", [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", b"junk\r\n\r\n"])
def test_a_node_that_refuses_the_websocket_is_unreachable(reply):
    server = OneShotServer(reply)
    try:
        with pytest.raises(PeerUnreachable, match="WebSocket to ws://127.0.0.1"):
            dial(server.address, "/ws/agent/stream/s-1", max_message=1024)
    finally:
        server.close()


def test_a_closed_port_or_bad_address_is_unreachable():
    free = socket.create_server(("127.0.0.1", 0))
    address = "127.0.0.1:%d" % free.getsockname()[1]
    free.close()
    with pytest.raises(PeerUnreachable, match="cannot reach"):
        dial(address, "/x", max_message=1024, timeout=2)
    with pytest.raises(PeerUnreachable, match="cannot reach"):
        dial("no-port-here", "/x", max_message=1024)
    assert issubclass(PeerUnreachable, GatewayError)
