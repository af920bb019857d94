"""The agent's side of the local VNC server: connect and complete RFB.

The I/O driver for ``protocol.rfb.ClientHandshake``: bounded in time (one
deadline for connect plus handshake, however slowly the server dribbles) and,
through the handshake object, in size.

Exceptions::

    VNCUnavailable      the VNC server cannot be used; ``kind`` says why
                        (one of ``KINDS``) and the message says it in plain words
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from .protocol.rfb import (SECURITY_NONE, AuthenticationFailed, ClientHandshake, HandshakeComplete,
                           HandshakeError, ServerRefused, UnsupportedSecurity, UnsupportedVersion)

HANDSHAKE_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0

#: ``VNCUnavailable.kind`` values.
UNREACHABLE = "unreachable"   # nothing listening, or no answer to the TCP connect
TIMEOUT = "timeout"           # connected, but the handshake did not finish in time
PROTOCOL = "protocol"         # not RFB, or over our limits, or closed mid-handshake
VERSION = "version"           # RFB older than 3.3
SECURITY = "security"         # no security type we support (None, VncAuth)
PASSWORD = "password"         # VncAuth failed, or needed and not configured
REFUSED = "refused"           # the server refused us (e.g. too many failures)
KINDS = (UNREACHABLE, TIMEOUT, PROTOCOL, VERSION, SECURITY, PASSWORD, REFUSED)


class VNCUnavailable(Exception):
    """The VNC server cannot be reached or refused us; the message says why in plain words."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def _kind_of(exc: HandshakeError, hs: ClientHandshake) -> str:
    if isinstance(exc, UnsupportedSecurity):
        return SECURITY
    if isinstance(exc, UnsupportedVersion):
        return VERSION
    if isinstance(exc, AuthenticationFailed):
        return REFUSED if hs.security == SECURITY_NONE else PASSWORD
    if isinstance(exc, ServerRefused):
        return REFUSED
    return PROTOCOL


def connect(host: str, port: int, password: str | None, *,
            timeout: float = HANDSHAKE_TIMEOUT) -> tuple[socket.socket, HandshakeComplete]:
    """A socket past ServerInit (shared session) and the handshake's result.

    ``timeout`` bounds the whole thing: TCP connect and RFB handshake.
    """
    where = f"{host}:{port}"
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=min(CONNECT_TIMEOUT, timeout))
    except socket.timeout as exc:
        raise VNCUnavailable(f"VNC server at {where} is not answering (connection timed out)", UNREACHABLE) from exc
    except OSError as exc:
        raise VNCUnavailable(f"VNC server at {where} is not answering ({exc.strerror or exc})", UNREACHABLE) from exc
    hs = ClientHandshake(password, shared=True)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            sock.settimeout(left)
            data = sock.recv(65536)
            if not data:
                hs.receive_data(b"")  # raises ProtocolViolation naming what we waited for
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
        msg = str(exc)
        msg = msg.replace("VNC server", f"VNC server at {where}", 1) if msg.startswith("VNC server") \
            else f"VNC server at {where}: {msg}"
        raise VNCUnavailable(msg, _kind_of(exc, hs)) from exc
    except socket.timeout as exc:
        sock.close()
        raise VNCUnavailable(f"VNC server at {where} did not finish the RFB handshake within {timeout:g} s",
                             TIMEOUT) from exc
    except OSError as exc:
        sock.close()
        raise VNCUnavailable(f"VNC server at {where} dropped the connection during the handshake "
                             f"({exc.strerror or exc})", PROTOCOL) from exc
    except BaseException:
        sock.close()
        raise


@dataclass(frozen=True)
class Check:
    """The outcome of one full handshake with the VNC server."""

    ok: bool
    detail: str
    kind: str = ""  # one of KINDS when not ok
    security: int = 0  # SECURITY_NONE or SECURITY_VNC_AUTH when ok


def check(host: str, port: int, password: str | None, *, timeout: float = HANDSHAKE_TIMEOUT) -> Check:
    """Is the VNC server answering and accepting our password? (full handshake).

    A full handshake, never a bare TCP connect: servers such as TigerVNC
    count connections that send nothing towards blacklisting our address.
    """
    try:
        sock, complete = connect(host, port, password, timeout=timeout)
    except VNCUnavailable as exc:
        return Check(False, str(exc), exc.kind)
    sock.close()
    init = complete.server_init
    detail = f"desktop {init.name or '(unnamed)'!r} {init.width}x{init.height}, " \
             f"RFB {complete.version[0]}.{complete.version[1]}"
    return Check(True, detail, security=complete.security)


def probe(host: str, port: int, password: str | None, *, timeout: float = HANDSHAKE_TIMEOUT) -> tuple[bool, str]:
    """``(ok, detail)`` of ``check``."""
    result = check(host, port, password, timeout=timeout)
    return result.ok, result.detail
