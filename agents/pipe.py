"""Splice a TCP socket and a WebSocket both ways until either side ends.

Both directions avoid copies in Python: TCP data is read straight into a
``FrameBuffer`` and sent as one frame (masked in place when we are the
client); WebSocket data is forwarded cut-through by ``FramedWebSocket.pump``.

When the VNC server switched to TLS during login (VeNCrypt), ``TLSSocket``
stands in for the TCP socket: it decrypts what the server sends and encrypts
what goes to it, so the viewer's side stays plain RFB.
"""

from __future__ import annotations

import logging
import socket
import threading

from .protocol.tls import TLSLayer
from .websocket import READ_SIZE, FrameBuffer, FramedWebSocket, FramingError

log = logging.getLogger(__name__)

def close_socket(sock: socket.socket) -> None:
    """Shut down then close, so a thread blocked in recv() wakes up."""
    for step in (lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
        try:
            step()
        except OSError:
            pass


class TLSSocket:
    """A TCP socket seen through the TLS layer the VNC login set up: the socket calls
    ``splice`` and the handshake driver use (``recv``/``recv_into``, ``send``/``sendall``,
    ``settimeout``, ``shutdown``, ``close``), each in plaintext.

    Two threads use it at once (one reads, one writes) and an ``SSLObject`` must not be
    used concurrently, so TLS calls hold ``_tls``; ``_wire`` keeps encrypted records in
    order on the socket. Blocking socket calls happen outside ``_tls``.
    """

    def __init__(self, sock: socket.socket, layer: TLSLayer):
        self.sock = sock
        self.layer = layer
        self._tls = threading.Lock()
        self._wire = threading.Lock()

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        view = memoryview(buffer)[:nbytes] if nbytes else memoryview(buffer)
        while True:
            with self._tls:
                n = self.layer.read_into(view)
                out = self.layer.data_to_send()  # alerts, key updates
            if out:
                with self._wire:
                    self.sock.sendall(out)
            if n or self.layer.closed:
                return n
            raw = self.sock.recv(READ_SIZE)
            with self._tls:
                self.layer.receive(raw)  # b"": the server closed; the next read says so

    def recv(self, n: int) -> bytes:
        buf = bytearray(n)
        return bytes(buf[:self.recv_into(buf)])

    def sendall(self, data) -> None:
        with self._wire:
            with self._tls:
                self.layer.write(bytes(data))
                out = self.layer.data_to_send()
            self.sock.sendall(out)

    def send(self, data) -> int:
        self.sendall(data)
        return len(data)

    def sendmsg(self, parts):  # the pump falls back to send() (as for ssl.SSLSocket)
        raise NotImplementedError

    def settimeout(self, value) -> None:
        self.sock.settimeout(value)

    def setsockopt(self, *args) -> None:
        self.sock.setsockopt(*args)

    def shutdown(self, how) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()


def splice(sock: socket.socket, ws: FramedWebSocket, *, name: str = "pipe") -> str:
    """Relay until one side closes; closes both. Returns which side ended it."""
    ended = []
    done = threading.Event()

    def finish(why: str) -> None:
        if not done.is_set():
            ended.append(why)
            done.set()
            close_socket(sock)
            ws.close_with(1000, why)

    def tcp_to_ws() -> None:
        fb = FrameBuffer(READ_SIZE)
        try:
            while True:
                n = sock.recv_into(fb.payload)
                if not n:
                    break
                ws.write_buffer(fb, n)
        except (OSError, FramingError) as exc:
            log.debug("%s tcp→ws: %r", name, exc)
        finally:
            finish("tcp side closed")

    def ws_to_tcp() -> None:
        try:
            ws.pump(sock)
        except (OSError, FramingError) as exc:
            log.debug("%s ws→tcp: %r", name, exc)
        finally:
            finish("websocket side closed")

    other = threading.Thread(target=ws_to_tcp, name=f"{name}-in", daemon=True)
    other.start()
    tcp_to_ws()
    other.join(timeout=5)
    return ended[0] if ended else "closed"
