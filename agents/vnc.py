"""The agent's side of the local VNC server: connect and complete RFB.

The I/O driver for ``protocol.rfb.ClientHandshake``: bounded in time
(``HANDSHAKE_TIMEOUT``) and, through the handshake object, in size.
"""

from __future__ import annotations

import socket
import time

from .protocol.rfb import ClientHandshake, HandshakeComplete, HandshakeError

HANDSHAKE_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0


class VNCUnavailable(Exception):
    """The VNC server cannot be reached or refused us; the message says why in plain words."""


def connect(host: str, port: int, password: str | None, *,
            timeout: float = HANDSHAKE_TIMEOUT) -> tuple[socket.socket, HandshakeComplete]:
    """A socket past ServerInit (shared session) and the handshake's result."""
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise VNCUnavailable(f"VNC server at {host}:{port} is not answering ({exc.strerror or exc})") from exc
    deadline = time.monotonic() + timeout
    hs = ClientHandshake(password, shared=True)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise VNCUnavailable(f"VNC server at {host}:{port} did not finish the handshake in {timeout:.0f} s")
            sock.settimeout(left)
            data = sock.recv(65536)
            if not data:
                raise VNCUnavailable(f"VNC server at {host}:{port} closed the connection during the handshake")
            for event in hs.receive_data(data):
                if isinstance(event, HandshakeComplete):
                    out = hs.data_to_send()
                    if out:
                        sock.sendall(out)
                    sock.settimeout(None)
                    return sock, event
            out = hs.data_to_send()
            if out:
                sock.sendall(out)
    except HandshakeError as exc:
        sock.close()
        raise VNCUnavailable(f"VNC server refused the agent: {exc}") from exc
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.timeout):
            raise VNCUnavailable(f"VNC server at {host}:{port} stopped answering during the handshake") from exc
        raise VNCUnavailable(f"VNC server at {host}:{port}: {exc}") from exc
    except BaseException:
        sock.close()
        raise


def probe(host: str, port: int, password: str | None) -> tuple[bool, str]:
    """Is the VNC server answering and accepting our password? (full handshake).

    A full handshake, never a bare TCP connect: servers such as TigerVNC
    count connections that send nothing towards blacklisting our address.
    """
    try:
        sock, complete = connect(host, port, password)
    except VNCUnavailable as exc:
        return False, str(exc)
    sock.close()
    init = complete.server_init
    return True, f"{init.name or 'desktop'} {init.width}x{init.height}, RFB {complete.version[0]}.{complete.version[1]}"
