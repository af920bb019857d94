"""Splice a TCP socket and a WebSocket both ways until either side ends.

Both directions avoid copies in Python: TCP data is read straight into a
``FrameBuffer`` and sent as one frame (masked in place when we are the
client); WebSocket data is forwarded cut-through by ``FramedWebSocket.pump``.
"""

from __future__ import annotations

import logging
import socket
import threading

from .protocol.framing import FrameBuffer, FramedWebSocket, FramingError

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024


def close_socket(sock: socket.socket) -> None:
    """Shut down then close, so a thread blocked in recv() wakes up."""
    for step in (lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
        try:
            step()
        except OSError:
            pass


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
