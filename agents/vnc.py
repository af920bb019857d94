"""The agent's side of the local VNC server: connect and complete RFB.

The I/O driver for ``protocol.rfb.ClientHandshake``: bounded in time (one
deadline for connect plus handshake, however slowly the server dribbles) and,
through the handshake object, in size. A session logs in first and sends
ClientInit later, with the viewer's shared flag (``login`` then
``Login.finish``); a check does both at once with shared set, so it never
pushes anyone else off the desktop.

Every failure becomes ``VNCUnavailable`` with a ``kind`` (its own state, see
``KINDS``) and a sentence for admins: the exact cause and, where there is
one, the fix. ``VNCUnavailable.employee`` is the sentence for the person at
the viewer (``protocol.vncstate``), who cannot fix anything and must not see
internal addresses.

Errors: ``VNCUnavailable`` (drawn in ``agents/errors.py``).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from .errors import VNCUnavailable
from .pipe import TLSSocket
from .protocol import security as sec
from .protocol.rfb import (SECURITY_NONE, Authenticated, AuthenticationFailed, CertificateRejected, ClientHandshake,
                           Credentials, HandshakeComplete, HandshakeError, ServerRefused, TLSFailed,
                           UnsupportedSecurity, UnsupportedVersion)
# ``VNCUnavailable.kind`` values (each failure its own state) and the viewer's sentences.
from .protocol.vncstate import (CERTIFICATE, CREDENTIALS, KINDS, LOCKED, PASSWORD, PROTOCOL, REFUSED,  # noqa: F401
                                SECURITY, TIMEOUT, TLS, UNREACHABLE, VERSION, employee)

HANDSHAKE_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0

#: The fix an admin reads after the cause, by kind (for kinds whose cause does not carry it).
FIX = {
    UNREACHABLE: "Is the VNC server running and listening on this address and port?",
    TIMEOUT: "Something answers on this port but does not finish an RFB handshake: is it a VNC server?",
    PROTOCOL: "Something answers on this port but does not speak RFB: is it a VNC server?",
    VERSION: "The VNC server is too old: RFB 3.3 or later is needed.",
    TLS: "Check the VNC server's TLS settings (TLS 1.2 or later; for the TLS* subtypes anonymous "
         "Diffie-Hellman), or choose a VeNCrypt X509 subtype and give the agent its certificate.",
    PASSWORD: "Put the right password in vnc_password_file (or PONTE_AGENT_VNC_PASSWORD).",
    REFUSED: "After several wrong passwords most VNC servers block logins for a while: fix the password, "
             "then wait or restart the VNC server.",
    CERTIFICATE: "Give the agent the server's certificate (vnc_ca_file) or its SHA-256 fingerprint "
                 "(vnc_pin_sha256).",
}





def _kind_of(exc: HandshakeError, hs: ClientHandshake) -> str:
    if isinstance(exc, UnsupportedSecurity):
        strongest = next((exc.lacking[m] for m in sec.PREFERENCE if m in exc.lacking
                          and exc.lacking[m] not in (sec.UNSUPPORTED, sec.NOT_ALLOWED)), None)
        return {sec.LACKS_CERTIFICATE: CERTIFICATE, sec.LACKS_PASSWORD: CREDENTIALS,
                sec.LACKS_USER: CREDENTIALS}.get(strongest, SECURITY)
    if isinstance(exc, UnsupportedVersion):
        return VERSION
    if isinstance(exc, CertificateRejected):
        return CERTIFICATE
    if isinstance(exc, TLSFailed):
        return CERTIFICATE if exc.x509_offered else TLS
    if isinstance(exc, AuthenticationFailed):
        return REFUSED if hs.method in (SECURITY_NONE, sec.TLS_NONE, sec.X509_NONE) else PASSWORD
    if isinstance(exc, ServerRefused):
        return REFUSED
    return PROTOCOL


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _unavailable(cause: str, kind: str, *, has_fix: bool = False) -> VNCUnavailable:
    """The admin's sentence: the cause, then the fix (unless the cause already says it)."""
    text = _sentence(cause)
    if not has_fix and kind in FIX:
        text = f"{text} {FIX[kind]}"
    return VNCUnavailable(text, kind)


class Login:
    """A VNC connection past authentication, waiting for the viewer's ClientInit."""

    def __init__(self, sock: socket.socket, hs: ClientHandshake, authenticated: Authenticated, where: str):
        self.sock = sock
        self.hs = hs
        self.authenticated = authenticated
        self.where = where

    def finish(self, shared: bool, *, timeout: float = HANDSHAKE_TIMEOUT) -> tuple[socket.socket, HandshakeComplete]:
        """Send ClientInit (§7.3.1) with ``shared``; the socket to relay (TLS-wrapped when the
        server switched to TLS) and the handshake's result."""
        deadline = time.monotonic() + timeout
        try:
            complete = _drive(self.sock, self.hs, deadline, HandshakeComplete, self.where, timeout,
                              start=lambda: self.hs.client_init(shared))
        except BaseException:
            self.close()
            raise
        sock = TLSSocket(self.sock, complete.tls) if complete.tls is not None else self.sock
        sock.settimeout(None)
        return sock, complete

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _drive(sock, hs: ClientHandshake, deadline: float, until, where: str, timeout: float, start=None):
    """Feed the handshake from ``sock`` until it returns an ``until`` event (``start()``
    gives the first events, e.g. from ``client_init``)."""
    try:
        events = start() if start is not None else ()
        while True:
            out = hs.data_to_send()
            if out:
                sock.sendall(out)
            for event in events:
                if isinstance(event, until):
                    out = hs.data_to_send()
                    if out:
                        sock.sendall(out)
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            sock.settimeout(left)
            data = sock.recv(65536)
            events = hs.receive_data(data)  # b"": raises ProtocolViolation naming what we waited for
    except HandshakeError as exc:
        msg = str(exc)
        for name in ("VNC server", "The VNC server"):
            if msg.startswith(name):
                msg = msg.replace(name, f"{name} at {where}", 1)
                break
        else:
            msg = f"VNC server at {where}: {msg}"
        has_fix = isinstance(exc, UnsupportedSecurity) or getattr(exc, "x509_offered", ())
        raise _unavailable(msg, _kind_of(exc, hs), has_fix=bool(has_fix)) from exc
    except socket.timeout as exc:
        raise _unavailable(f"VNC server at {where} did not finish the RFB handshake within {timeout:g} s",
                           TIMEOUT) from exc
    except OSError as exc:
        raise _unavailable(f"VNC server at {where} dropped the connection during the handshake "
                           f"({exc.strerror or exc})", PROTOCOL) from exc


def login(host: str, port: int, creds: Credentials | str | None, *,
          timeout: float = HANDSHAKE_TIMEOUT) -> Login:
    """Connect and authenticate; ``Login.finish(shared)`` sends ClientInit.

    ``timeout`` bounds the whole thing: TCP connect and RFB handshake. When
    the server offers VeNCrypt but none of its subtypes fits, and another
    offered type does, it connects once more without VeNCrypt.
    """
    if not isinstance(creds, Credentials):
        creds = Credentials(password=creds)
    where = f"{host}:{port}"
    deadline = time.monotonic() + timeout
    skip: frozenset[int] = frozenset()
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=min(CONNECT_TIMEOUT, timeout))
        except socket.timeout as exc:
            raise _unavailable(f"VNC server at {where} is not answering (connection timed out)",
                               UNREACHABLE) from exc
        except OSError as exc:
            raise _unavailable(f"VNC server at {where} is not answering ({exc.strerror or exc})",
                               UNREACHABLE) from exc
        hs = ClientHandshake(creds, shared=None, server_name=host, skip=skip)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            authenticated = _drive(sock, hs, deadline, Authenticated, where, timeout)
            return Login(sock, hs, authenticated, where)
        except VNCUnavailable as exc:
            sock.close()
            cause = exc.__cause__
            if isinstance(cause, UnsupportedSecurity) and cause.fallback and not skip:
                skip = frozenset({sec.VENCRYPT})
                continue
            raise
        except BaseException:
            sock.close()
            raise


def connect(host: str, port: int, creds: Credentials | str | None, *,
            timeout: float = HANDSHAKE_TIMEOUT, shared: bool = True) -> tuple[socket.socket, HandshakeComplete]:
    """A socket past ServerInit and the handshake's result (``login`` then ``finish``)."""
    return login(host, port, creds, timeout=timeout).finish(shared, timeout=timeout)


@dataclass(frozen=True)
class Check:
    """The outcome of one full handshake with the VNC server."""

    ok: bool
    detail: str
    kind: str = ""  # one of KINDS when not ok
    security: int = 0  # the security type used when ok
    method: int = 0  # the login used when ok (a VeNCrypt subtype inside VeNCrypt)


def describe(complete: HandshakeComplete) -> str:
    init = complete.server_init
    how = sec.name(complete.method)
    if complete.security == sec.TIGHT:
        how = f"Tight with {how}"
    if complete.tls is not None:
        how += f" over {complete.tls.version}"
    return (f"desktop {init.name or '(unnamed)'!r} {init.width}x{init.height}, "
            f"RFB {complete.version[0]}.{complete.version[1]}, {how}")


def check(host: str, port: int, creds: Credentials | str | None, *, timeout: float = HANDSHAKE_TIMEOUT) -> Check:
    """Is the VNC server answering and accepting our credentials? (full handshake).

    A full handshake, never a bare TCP connect: servers such as TigerVNC
    count connections that send nothing towards blacklisting our address.
    Shared, so a check never disconnects anyone.
    """
    try:
        sock, complete = connect(host, port, creds, timeout=timeout, shared=True)
    except VNCUnavailable as exc:
        return Check(False, str(exc), exc.kind)
    sock.close()
    return Check(True, describe(complete), security=complete.security, method=complete.method)
