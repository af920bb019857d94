"""TCP options of the gateway's long-lived sockets (WebSockets held for hours)."""

from __future__ import annotations

import socket

#: A dead peer must not hold a session for ever: TCP keepalive finds it in about
#: 60 + 3 × 10 s. Set where the platform has the option (Linux names all three).
KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}


def tune(sock: socket.socket) -> None:
    """Keepalive on, and no Nagle delay: RFB input events are small and must go at once."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for name, value in KEEPALIVE.items():
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
