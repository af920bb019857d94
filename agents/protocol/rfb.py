"""Sans-IO RFB handshakes for the Ponte agent (RFC 6143 §7.1–7.3).

The agent runs beside a VNC server and stands between it and a remote viewer::

    viewer <--ServerHandshake--> agent <--ClientHandshake--> VNC server
           (offers only None)           (None or VncAuth, with the
                                          password the agent holds)

``ClientHandshake`` logs in to the real server and keeps its ServerInit;
``ServerHandshake`` then greets the viewer with security type None and
replays that ServerInit, so the viewer never needs the VNC password. After
both are done the caller relays bytes verbatim, starting with each side's
``leftover``.

Like h11 and wsproto, nothing here does I/O: pass received bytes to
``receive_data()`` (``b""`` means the peer closed the connection), write
whatever ``data_to_send()`` returns, and act on the returned events. Every
length the peer announces is checked before its bytes are awaited.

Exceptions (any of them means: close the connection)::

    HandshakeError
    ├── ProtocolViolation      not RFB, bad values, input over our limits,
    │                          peer closed, receive_data() after the end
    ├── UnsupportedVersion     server speaks an RFB version below 3.3
    ├── UnsupportedSecurity    server offers neither None nor VncAuth
    ├── AuthenticationFailed   SecurityResult failed, or VncAuth without password
    └── ServerRefused          server sent a reason instead of security types
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Generator

from .des import encrypt_block

DEFAULT_MAX_HANDSHAKE_BYTES = 64 * 1024  # everything before ServerInit's name
DEFAULT_MAX_NAME = 64 * 1024  # ServerInit desktop name, counted separately
DEFAULT_MAX_REASON = 4 * 1024  # failure-reason strings
DEFAULT_MAX_VIEWER_HANDSHAKE_BYTES = 4096  # a viewer sends only 14 bytes

SECURITY_NONE = 1
SECURITY_VNC_AUTH = 2

# IANA "RFB Security Types" plus well-known vendor ids, for error messages.
SECURITY_TYPE_NAMES = {
    0: "Invalid",
    1: "None",
    2: "VncAuth",
    5: "RA2",
    6: "RA2ne",
    16: "Tight",
    17: "Ultra",
    18: "TLS",
    19: "VeNCrypt",
    20: "SASL",
    21: "MD5",
    22: "xvp",
    23: "Secure Tunnel",
    24: "Integrated SSH",
    30: "Apple ARD",
    113: "MSLogon II",
}

__all__ = [
    "DEFAULT_MAX_HANDSHAKE_BYTES",
    "DEFAULT_MAX_NAME",
    "DEFAULT_MAX_REASON",
    "DEFAULT_MAX_VIEWER_HANDSHAKE_BYTES",
    "SECURITY_NONE",
    "SECURITY_TYPE_NAMES",
    "SECURITY_VNC_AUTH",
    "AuthenticationFailed",
    "ClientHandshake",
    "HandshakeComplete",
    "HandshakeError",
    "ProtocolViolation",
    "ServerHandshake",
    "ServerInit",
    "ServerRefused",
    "UnsupportedSecurity",
    "UnsupportedVersion",
    "ViewerReady",
    "ViewerRefused",
    "vnc_auth_response",
]


class HandshakeError(Exception):
    """The RFB handshake cannot complete; close the connection."""


class ProtocolViolation(HandshakeError):
    """The peer sent something that is not RFB or exceeds our limits."""


class UnsupportedVersion(HandshakeError):
    """The server's ProtocolVersion is well-formed but older than 3.3."""


class UnsupportedSecurity(HandshakeError):
    """The server offers neither None nor VncAuth (RFC 6143 §7.1.2)."""


class AuthenticationFailed(HandshakeError):
    """SecurityResult reported failure, or VncAuth is needed without a password."""


class ServerRefused(HandshakeError):
    """The server sent a failure reason instead of security types."""


@dataclass(frozen=True)
class ServerInit:
    """The server's ServerInit message (RFC 6143 §7.3.2)."""

    width: int
    height: int
    pixel_format: bytes  # 16 bytes, §7.4; the viewer parses it, we do not
    name: str
    raw: bytes = field(repr=False)  # the exact message, replayed to the viewer

    @classmethod
    def create(cls, width: int, height: int, pixel_format: bytes, name: str) -> ServerInit:
        """Build a ServerInit (and its ``raw`` bytes) from its fields."""
        if len(pixel_format) != 16:
            raise ValueError("pixel_format must be 16 bytes")
        encoded = name.encode("utf-8")
        raw = struct.pack(">HH16sI", width, height, pixel_format, len(encoded)) + encoded
        return cls(width, height, bytes(pixel_format), name, raw)


@dataclass(frozen=True)
class HandshakeComplete:
    """ClientHandshake is done; relay from here on, starting with ``leftover``."""

    server_init: ServerInit
    version: tuple[int, int]  # the version we agreed on: (3, 3), (3, 7) or (3, 8)
    security: int  # SECURITY_NONE or SECURITY_VNC_AUTH
    leftover: bytes  # server bytes after ServerInit: forward them to the viewer


@dataclass(frozen=True)
class ViewerReady:
    """The viewer sent ClientInit; its ServerInit is queued in ``data_to_send()``."""

    client_init_shared: bool
    leftover: bytes  # viewer bytes after ClientInit: forward them to the server


@dataclass(frozen=True)
class ViewerRefused:
    """The failure reason is queued in ``data_to_send()``; send it, then close."""

    reason: str


_VERSION = re.compile(rb"RFB (\d{3})\.(\d{3})\n")
_U32 = struct.Struct(">I")
_REVERSED_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))

_Steps = Generator[int, bytes, object]


def vnc_auth_response(password: str | bytes, challenge: bytes) -> bytes:
    """Answer a 16-byte VncAuth challenge (RFC 6143 §7.2.2).

    The password is cut or NUL-padded to 8 bytes and, as in the original
    AT&T code (the RFC leaves this out), each key byte is bit-reversed.
    A ``str`` password is UTF-8 encoded.
    """
    if len(challenge) != 16:
        raise ValueError("VncAuth challenge must be 16 bytes")
    if isinstance(password, str):
        password = password.encode("utf-8")
    key = password[:8].ljust(8, b"\0").translate(_REVERSED_BITS)
    return encrypt_block(key, challenge[:8]) + encrypt_block(key, challenge[8:])


def _decode(raw: bytes) -> str:
    # Encoding is historically undefined (§7.3.2 recommends UTF-8); Latin-1
    # decodes anything, so old servers' names still come out readable.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _security_name(number: int) -> str:
    name = SECURITY_TYPE_NAMES.get(number)
    return f"{number} ({name})" if name else str(number)


class _Handshake:
    """Drives a generator that yields byte counts and is sent those bytes."""

    _peer = "peer"

    def __init__(self, max_bytes: int, max_reason: int = DEFAULT_MAX_REASON) -> None:
        if max_bytes < 12:
            raise ValueError("max_bytes must allow at least a ProtocolVersion (12)")
        self._max_bytes = max_bytes
        self._max_reason = max_reason
        self._counted = 0
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._steps: _Steps | None = None
        self._need = 0
        self._waiting_for = "nothing"
        self._done = False
        self._failed = False

    @property
    def done(self) -> bool:
        """True once the final event has been returned."""
        return self._done

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer now; drains the queue."""
        out = bytes(self._outbuf)
        self._outbuf.clear()
        return out

    def receive_data(self, data: bytes) -> list:
        """Consume bytes from the peer (``b""`` = closed); return new events."""
        if self._done or self._failed:
            raise ProtocolViolation(
                "receive_data() after the handshake ended; relay the bytes instead"
            )
        if self._steps is None:
            self._failed = True
            raise ProtocolViolation(f"{self._peer} spoke before our ProtocolVersion")
        if not data:
            self._failed = True
            raise ProtocolViolation(
                f"{self._peer} closed the connection during the handshake"
                f" (while waiting for {self._waiting_for})"
            )
        self._inbuf += data
        try:
            return self._advance()
        except HandshakeError:
            self._failed = True
            raise

    def _start(self, steps: _Steps) -> None:
        self._steps = steps
        self._need = next(steps)

    def _advance(self) -> list:
        assert self._steps is not None
        while len(self._inbuf) >= self._need:
            chunk = bytes(self._inbuf[: self._need])
            del self._inbuf[: self._need]
            try:
                self._need = self._steps.send(chunk)
            except StopIteration as stop:
                self._done = True
                return [stop.value]
        return []

    def _read(self, n: int, what: str, *, counted: bool = True) -> Generator[int, bytes, bytes]:
        # Checked when the length is announced, not when the bytes arrive, so
        # an absurd length fails at once and chunking cannot change the outcome.
        if counted:
            self._counted += n
            if self._counted > self._max_bytes:
                raise ProtocolViolation(f"handshake larger than {self._max_bytes} bytes")
        self._waiting_for = what
        return (yield n)

    def _read_u32(self, what: str) -> Generator[int, bytes, int]:
        return _U32.unpack((yield from self._read(4, what)))[0]

    def _read_reason(self) -> Generator[int, bytes, str]:
        length = yield from self._read_u32("reason length")
        if length > self._max_reason:
            raise ProtocolViolation(f"reason string of {length} bytes exceeds {self._max_reason}")
        return _decode((yield from self._read(length, "reason string")))

    def _read_version(self) -> Generator[int, bytes, tuple[int, int]]:
        # Checking "RFB " first rejects an HTTP or SSH banner after 4 bytes.
        head = yield from self._read(4, "ProtocolVersion")
        if head != b"RFB ":
            raise ProtocolViolation(
                f"{self._peer} did not send an RFB ProtocolVersion (got {head!r})"
            )
        line = head + (yield from self._read(8, "ProtocolVersion"))
        match = _VERSION.fullmatch(line)
        if not match:
            raise ProtocolViolation(f"malformed ProtocolVersion {line!r}")
        return int(match[1]), int(match[2])

    def _take_input(self) -> bytes:
        rest = bytes(self._inbuf)
        self._inbuf.clear()
        return rest


class ClientHandshake(_Handshake):
    """Agent as RFB client toward the real VNC server (RFC 6143 §7.1–7.3).

    Prefers security type None, else VncAuth with ``password``. Sends
    ClientInit with ``shared`` and returns ``HandshakeComplete`` once the
    ServerInit has arrived. The server speaks first, so there is nothing to
    send until the first ``receive_data()``.
    """

    _peer = "VNC server"

    def __init__(
        self,
        password: str | bytes | None,
        *,
        shared: bool = True,
        max_bytes: int = DEFAULT_MAX_HANDSHAKE_BYTES,
        max_name: int = DEFAULT_MAX_NAME,
        max_reason: int = DEFAULT_MAX_REASON,
    ) -> None:
        super().__init__(max_bytes, max_reason)
        self._password = password
        self._shared = shared
        #: The security type chosen (SECURITY_NONE or SECURITY_VNC_AUTH), once known.
        self.security: int | None = None
        self._max_name = max_name
        self._start(self._steps_client())

    def _steps_client(self) -> Generator[int, bytes, HandshakeComplete]:
        major, minor = yield from self._read_version()
        # §7.1.1: answer with the highest version we speak that is not above
        # the server's. 3.4-3.6 (UltraVNC reports 3.6) lack the 3.7 handshake,
        # so they are 3.3; Apple's 3.889 and RealVNC's 4.x/5.x get 3.8.
        if (major, minor) < (3, 3):
            raise UnsupportedVersion(
                f"VNC server speaks RFB {major}.{minor}; 3.3 or later is required"
            )
        version = (3, 8) if (major, minor) >= (3, 8) else (3, 7) if minor == 7 else (3, 3)
        self._outbuf += b"RFB %03d.%03d\n" % version

        if version == (3, 3):  # §7.1.2 note: the server picks the type
            security = yield from self._read_u32("security type")
            if security == 0:
                reason = yield from self._read_reason()
                raise ServerRefused(f"VNC server refused the connection: {reason}")
            if security not in (SECURITY_NONE, SECURITY_VNC_AUTH):
                raise UnsupportedSecurity(
                    f"VNC server requires security type {_security_name(security)};"
                    " the agent supports only None and VncAuth"
                )
            self.security = security
            self._require_password(security)
        else:
            count = (yield from self._read(1, "number of security types"))[0]
            if count == 0:
                reason = yield from self._read_reason()
                raise ServerRefused(f"VNC server refused the connection: {reason}")
            offered = yield from self._read(count, "security types")
            if SECURITY_NONE in offered:
                security = SECURITY_NONE
            elif SECURITY_VNC_AUTH in offered:
                security = SECURITY_VNC_AUTH
            else:
                names = ", ".join(_security_name(t) for t in offered)
                raise UnsupportedSecurity(
                    "VNC server offers no security type the agent supports"
                    f" (None or VncAuth); it offers: {names}"
                )
            self.security = security
            self._require_password(security)
            self._outbuf.append(security)

        if security == SECURITY_VNC_AUTH:  # §7.2.2
            challenge = yield from self._read(16, "VncAuth challenge")
            assert self._password  # checked by _require_password
            self._outbuf += vnc_auth_response(self._password, challenge)

        # §7.1.3, §7.2.1: 3.3 and 3.7 send no SecurityResult after None; 3.8 always does.
        if security == SECURITY_VNC_AUTH or version == (3, 8):
            if (yield from self._read_u32("SecurityResult")) != 0:
                reason = (yield from self._read_reason()) if version == (3, 8) else ""
                if security == SECURITY_VNC_AUTH:
                    what = "VNC server rejected the password"
                else:
                    what = "VNC server refused access"
                raise AuthenticationFailed(f"{what}: {reason}" if reason else what)

        self._outbuf.append(1 if self._shared else 0)  # ClientInit, §7.3.1

        header = yield from self._read(24, "ServerInit")
        width, height, pixel_format, name_length = struct.unpack(">HH16sI", header)
        if name_length > self._max_name:
            raise ProtocolViolation(
                f"desktop name of {name_length} bytes exceeds {self._max_name}"
            )
        name = yield from self._read(name_length, "desktop name", counted=False)
        server_init = ServerInit(width, height, pixel_format, _decode(name), header + name)
        return HandshakeComplete(server_init, version, security, self._take_input())

    def _require_password(self, security: int) -> None:
        # An empty string counts as unset: config files write "" for "none".
        if security == SECURITY_VNC_AUTH and not self._password:
            raise AuthenticationFailed("VNC server asks for a password but none is configured")


class ServerHandshake(_Handshake):
    """Agent as RFB server toward the viewer; offers only security type None.

    Normal mode (``server_init`` given): returns ``ViewerReady`` when the
    viewer's ClientInit arrives, with ``server_init.raw`` already queued.

    Failure mode (``failure`` given, when the real server could not be
    reached or logged in to): after the viewer's ProtocolVersion, queues a
    refusal carrying ``failure`` as the reason (§7.1.2) and returns
    ``ViewerRefused``; the caller sends ``data_to_send()`` and closes.

    Call ``initiate()`` first: the server speaks first in RFB.
    """

    _peer = "viewer"

    def __init__(
        self,
        server_init: ServerInit | None = None,
        *,
        failure: str | None = None,
        max_bytes: int = DEFAULT_MAX_VIEWER_HANDSHAKE_BYTES,
    ) -> None:
        if (server_init is None) == (failure is None):
            raise ValueError("pass exactly one of server_init and failure")
        super().__init__(max_bytes)
        self._server_init = server_init
        self._failure = failure

    def initiate(self) -> None:
        """Queue our ProtocolVersion, "RFB 003.008\\n" (§7.1.1)."""
        if self._steps is None:
            self._outbuf += b"RFB 003.008\n"
            self._start(self._steps_server())

    def _steps_server(self) -> Generator[int, bytes, ViewerReady | ViewerRefused]:
        major, minor = yield from self._read_version()
        # A viewer may not answer above our 3.8, but Apple's 3.889 and the
        # like mean 3.8; 3.4-3.6 are 3.3 (§7.1.1).
        if major != 3 or minor < 3:
            raise ProtocolViolation(f"viewer answered RFB {major}.{minor} to our 3.8")
        version = (3, 8) if minor >= 8 else (3, 7) if minor == 7 else (3, 3)

        if self._failure is not None:
            reason = self._failure.encode("utf-8")
            refusal = _U32.pack(0) if version == (3, 3) else b"\0"
            self._outbuf += refusal + _U32.pack(len(reason)) + reason
            self._take_input()  # nothing the viewer says now matters
            return ViewerRefused(self._failure)

        if version == (3, 3):
            self._outbuf += _U32.pack(SECURITY_NONE)
        else:
            self._outbuf += bytes([1, SECURITY_NONE])
            choice = (yield from self._read(1, "security type choice"))[0]
            if choice != SECURITY_NONE:
                raise ProtocolViolation(f"viewer chose security type {_security_name(choice)},"
                                        " which was not offered")
            if version == (3, 8):
                self._outbuf += _U32.pack(0)  # SecurityResult OK

        shared = (yield from self._read(1, "ClientInit"))[0]
        assert self._server_init is not None
        self._outbuf += self._server_init.raw
        return ViewerReady(bool(shared), self._take_input())
