"""Sans-IO RFB handshakes for the Ponte agent (RFC 6143 §7.1–7.3, rfbproto).

The agent runs beside a VNC server and stands between it and a remote viewer::

    viewer <--ServerHandshake--> agent <--ClientHandshake--> VNC server
           (offers only None)           (None, VncAuth, Tight, VeNCrypt and its
                                         TLS/X509 subtypes, Apple ARD, MS-Logon II,
                                         with the credentials the agent holds)

``ClientHandshake`` logs in to the real server and keeps its ServerInit;
``ServerHandshake`` then greets the viewer with security type None and
replays that ServerInit, so the viewer never needs the VNC password. After
both are done the caller relays bytes verbatim, starting with each side's
``leftover`` — through ``HandshakeComplete.tls`` when the server switched to
TLS (VeNCrypt), so the viewer still sees plain RFB with security None.

The viewer's ClientInit decides whether the VNC session is shared (§7.3.1):
with ``shared=None`` the client handshake stops after authentication
(``Authenticated``) until ``client_init(shared)`` gives the viewer's flag.

Like h11 and wsproto, nothing here does I/O: pass received bytes to
``receive_data()`` (``b""`` means the peer closed the connection), write
whatever ``data_to_send()`` returns, and act on the returned events. TLS runs
in memory (``tls.TLSLayer``: ``ssl.MemoryBIO`` and ``SSLObject``). Every
length the peer announces is checked before its bytes are awaited.

Errors: ``HandshakeError`` and its subclasses; any of them means close the
connection (the tree is drawn once, in ``errors.py``).
"""

# Over 300 lines: the two handshakes share one step engine (``_Handshake``),
# and the client's side is one generator per security type, read top to bottom
# against rfbproto; which type to pick (``security``), the DH/DES maths
# (``dhauth``, ``des``) and TLS in memory (``tls``) already live apart.

from __future__ import annotations

import dataclasses
import re
import ssl
import struct
from dataclasses import dataclass, field
from typing import Generator

from . import security as sec
from .des import encrypt_block
from .dhauth import ard_response, mslogon2_response
from .errors import (AuthenticationFailed, CertificateMismatch, CertificateRejected, DHError, HandshakeError,
                     ProtocolViolation, ServerRefused, TLSFailed, UnsupportedSecurity, UnsupportedVersion)
from .security import Credentials
from .tls import TLSLayer, anonymous_context, verified_context

DEFAULT_MAX_HANDSHAKE_BYTES = 64 * 1024  # everything before ServerInit's name
DEFAULT_MAX_NAME = 64 * 1024  # ServerInit desktop name, counted separately
DEFAULT_MAX_REASON = 4 * 1024  # failure-reason strings
DEFAULT_MAX_VIEWER_HANDSHAKE_BYTES = 4096  # a viewer sends only 14 bytes
#: Raw bytes a TLS server may send before ServerInit is through, beyond the
#: plaintext limits above (certificate chains, record overhead).
TLS_ALLOWANCE = 256 * 1024
MAX_TIGHT_CAPABILITIES = 256  # each list of Tight tunnels, auth types, interaction capabilities
MAX_VENCRYPT_SUBTYPES = 32

SECURITY_NONE = sec.NONE
SECURITY_VNC_AUTH = sec.VNC_AUTH
SECURITY_TYPE_NAMES = sec.NAMES

__all__ = [
    "DEFAULT_MAX_HANDSHAKE_BYTES",
    "DEFAULT_MAX_NAME",
    "DEFAULT_MAX_REASON",
    "DEFAULT_MAX_VIEWER_HANDSHAKE_BYTES",
    "SECURITY_NONE",
    "SECURITY_TYPE_NAMES",
    "SECURITY_VNC_AUTH",
    "AuthenticationFailed",
    "Authenticated",
    "CertificateRejected",
    "ClientHandshake",
    "Credentials",
    "HandshakeComplete",
    "HandshakeError",
    "ProtocolViolation",
    "ServerHandshake",
    "ServerInit",
    "ServerRefused",
    "TLSFailed",
    "UnsupportedSecurity",
    "UnsupportedVersion",
    "ViewerReady",
    "ViewerRefused",
    "vnc_auth_response",
]


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
class Authenticated:
    """The server accepted us; call ``client_init(shared)`` to get its ServerInit."""

    version: tuple[int, int]
    security: int


@dataclass(frozen=True)
class HandshakeComplete:
    """ClientHandshake is done; relay from here on, starting with ``leftover``."""

    server_init: ServerInit
    version: tuple[int, int]  # the version we agreed on: (3, 3), (3, 7) or (3, 8)
    security: int  # the security type chosen (RFC 6143 §7.1.2 number)
    leftover: bytes  # server bytes after ServerInit (plaintext): forward them to the viewer
    method: int = 0  # the login used: ``security`` or, inside VeNCrypt, its subtype
    #: The TLS connection the rest of the session runs in (VeNCrypt TLS/X509 subtypes):
    #: encrypt what goes to the server and decrypt what comes back through it.
    tls: TLSLayer | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.method:
            object.__setattr__(self, "method", self.security)


@dataclass(frozen=True)
class ViewerReady:
    """The viewer sent ClientInit (its ServerInit is queued unless it was deferred)."""

    client_init_shared: bool
    leftover: bytes  # viewer bytes after ClientInit: forward them to the server


@dataclass(frozen=True)
class ViewerRefused:
    """The failure reason is queued in ``data_to_send()``; send it, then close."""

    reason: str


_VERSION = re.compile(rb"RFB (\d{3})\.(\d{3})\n")
_U32 = struct.Struct(">I")
_REVERSED_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_TLS_HANDSHAKE = -1  # a step that waits for the TLS handshake, not for bytes
_CLIENT_INIT = -2    # a step that waits for client_init(shared)

_Steps = Generator[int, bytes, object]

TIGHT_NOTUNNEL = (0, b"TGHT", b"NOTUNNEL")
TIGHT_AUTH = {(1, b"STDV", b"NOAUTH__"): sec.NONE, (2, b"STDV", b"VNCAUTH_"): sec.VNC_AUTH}


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


def _clean(raw: bytes) -> str:
    """A server's reason string as text to show: no trailing NUL (C servers send one),
    no control characters, no surrounding blanks."""
    return _CONTROL.sub(" ", _decode(raw)).strip()


def _security_name(number: int) -> str:
    return sec.label(number)


def _text(value: str | bytes | None) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")


class _Handshake:
    """Drives a generator that yields byte counts and is sent those bytes.

    Two special steps: ``_TLS_HANDSHAKE`` (wait until the TLS layer's handshake is
    done; from then on input is decrypted and output encrypted) and
    ``_CLIENT_INIT`` (stop until ``client_init()``).
    """

    _peer = "peer"

    def __init__(self, max_bytes: int, max_reason: int = DEFAULT_MAX_REASON) -> None:
        if max_bytes < 12:
            raise ValueError("max_bytes must allow at least a ProtocolVersion (12)")
        self._max_bytes = max_bytes
        self._max_reason = max_reason
        self._counted = 0
        self._raw = 0
        self._max_raw = max_bytes + TLS_ALLOWANCE
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._steps: _Steps | None = None
        self._need = 0
        self._waiting_for = "nothing"
        self._done = False
        self._failed = False
        self._tls: TLSLayer | None = None
        self._vencrypt_offered: tuple[int, ...] = ()
        self.method: int | None = None

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
        try:
            if self._tls is not None:
                self._raw += len(data)
                if self._raw > self._max_raw:
                    raise ProtocolViolation(f"TLS handshake larger than {self._max_raw} bytes")
                self._tls.receive(data)
                self._pull_plaintext()
            else:
                self._inbuf += data
            return self._advance()
        except HandshakeError:
            self._failed = True
            raise

    def _pull_plaintext(self) -> None:
        if self._tls is not None and self._tls.established:
            self._inbuf += self._tls.read()
            if self._tls.closed and len(self._inbuf) < self._need:
                raise ProtocolViolation(f"{self._peer} closed the TLS connection during the handshake"
                                        f" (while waiting for {self._waiting_for})")

    def _send(self, data: bytes) -> None:
        if self._tls is not None and self._tls.established:
            self._tls.write(data)
            self._outbuf += self._tls.data_to_send()
        else:
            self._outbuf += data

    def _start(self, steps: _Steps) -> None:
        self._steps = steps
        self._need = next(steps)

    def _advance(self) -> list:
        assert self._steps is not None
        events: list = []
        while True:
            if self._need == _CLIENT_INIT:
                return events
            if self._need == _TLS_HANDSHAKE:
                if not self._tls_step():
                    return events
                chunk = b""
            elif len(self._inbuf) >= self._need:
                chunk = bytes(self._inbuf[: self._need])
                del self._inbuf[: self._need]
            else:
                return events
            try:
                self._need = self._steps.send(chunk)
            except StopIteration as stop:
                self._done = True
                return events + [stop.value]
            if self._need == _CLIENT_INIT:
                events.append(self._paused())

    def _paused(self):  # the event for a _CLIENT_INIT step
        raise NotImplementedError

    def _tls_step(self) -> bool:
        """Advance the TLS handshake; True once it is done."""
        assert self._tls is not None
        try:
            done = self._tls.handshake()
        except CertificateMismatch as exc:
            raise CertificateRejected(f"{self._peer} sent a TLS certificate that is not the pinned one ({exc})") \
                from exc
        except ssl.SSLCertVerificationError as exc:
            raise CertificateRejected(f"{self._peer} sent a TLS certificate the agent does not trust "
                                      f"({exc.verify_message or exc.reason or exc})") from exc
        except ssl.SSLError as exc:
            x509 = [m for m in self._vencrypt_offered if m in sec.VENCRYPT_X509] \
                if self.method in sec.VENCRYPT_TLS else []
            msg = f"{self._peer} failed the TLS handshake ({exc.reason or exc})"
            if x509:  # e.g. x11vnc built with OpenSSL 3, which refuses anonymous TLS at its default level
                msg += (f" for anonymous {sec.name(self.method)}; it also offers {sec.name(x509[0])}: give the "
                        "agent the server's certificate (vnc_ca_file) or its SHA-256 fingerprint (vnc_pin_sha256)")
            raise TLSFailed(msg, x509_offered=x509) from exc
        finally:
            self._outbuf += self._tls.data_to_send()
        if done:
            self._pull_plaintext()
        return done

    def _read(self, n: int, what: str, *, counted: bool = True) -> Generator[int, bytes, bytes]:
        # Checked when the length is announced, not when the bytes arrive, so
        # an absurd length fails at once and chunking cannot change the outcome.
        if counted:
            self._counted += n
            if self._counted > self._max_bytes:
                raise ProtocolViolation(f"handshake larger than {self._max_bytes} bytes")
        self._waiting_for = what
        return (yield n)

    def _read_u8(self, what: str) -> Generator[int, bytes, int]:
        return (yield from self._read(1, what))[0]

    def _read_u16(self, what: str) -> Generator[int, bytes, int]:
        return struct.unpack(">H", (yield from self._read(2, what)))[0]

    def _read_u32(self, what: str) -> Generator[int, bytes, int]:
        return _U32.unpack((yield from self._read(4, what)))[0]

    def _read_reason(self) -> Generator[int, bytes, str]:
        length = yield from self._read_u32("reason length")
        if length > self._max_reason:
            raise ProtocolViolation(f"reason string of {length} bytes exceeds {self._max_reason}")
        return _clean((yield from self._read(length, "reason string")))

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

    ``credentials`` is a ``Credentials`` (password, user name, what to trust
    for X509 certificates, which methods are allowed) or just a password.
    The strongest method the server offers that they fit is used
    (``security.PREFERENCE``). ``server_name`` is the host dialled, which an
    X509 certificate must name when it is checked against a CA.

    Sends ClientInit with ``shared`` and returns ``HandshakeComplete`` once
    the ServerInit has arrived; with ``shared=None`` it first returns
    ``Authenticated`` and waits for ``client_init(shared)``. The server
    speaks first, so there is nothing to send until the first
    ``receive_data()``.
    """

    _peer = "VNC server"

    def __init__(
        self,
        credentials: Credentials | str | bytes | None,
        *,
        shared: bool | None = True,
        server_name: str = "127.0.0.1",
        skip: frozenset[int] = frozenset(),
        max_bytes: int = DEFAULT_MAX_HANDSHAKE_BYTES,
        max_name: int = DEFAULT_MAX_NAME,
        max_reason: int = DEFAULT_MAX_REASON,
    ) -> None:
        super().__init__(max_bytes, max_reason)
        self._max_raw += max_name
        if not isinstance(credentials, Credentials):
            credentials = Credentials(password=credentials)
        self.credentials = credentials
        self._shared = shared
        self._server_name = server_name
        self._skip = skip
        #: What the server said about itself, once known (for messages).
        self.server_version: tuple[int, int] | None = None
        self.offered: tuple[int, ...] = ()
        #: The security type chosen and the login used (a VeNCrypt subtype inside VeNCrypt).
        self.security: int | None = None
        self.method: int | None = None
        self._version = (3, 8)
        self._tight = False
        self._max_name = max_name
        self._start(self._steps_client())

    @property
    def who(self) -> str:
        """The server as messages name it ("RealVNC Server", "The VNC server"…)."""
        return sec.vendor(self.server_version, self.offered)

    def client_init(self, shared: bool) -> list:
        """Send ClientInit (after ``Authenticated``); returns events like ``receive_data``."""
        if self._need != _CLIENT_INIT or self._done or self._failed:
            raise ProtocolViolation("client_init() is only for a handshake paused at Authenticated")
        assert self._steps is not None
        try:
            self._need = self._steps.send(b"\x01" if shared else b"\x00")
            return self._advance()
        except HandshakeError:
            self._failed = True
            raise

    def _paused(self) -> Authenticated:
        return Authenticated(self._version, self.security or 0)

    def _steps_client(self) -> Generator[int, bytes, HandshakeComplete]:
        major, minor = yield from self._read_version()
        self.server_version = (major, minor)
        # §7.1.1: answer with the highest version we speak that is not above
        # the server's. 3.4-3.6 (UltraVNC reports 3.6) lack the 3.7 handshake,
        # so they are 3.3; Apple's 3.889 and RealVNC's 4.x/5.x get 3.8.
        if (major, minor) < (3, 3):
            raise UnsupportedVersion(
                f"VNC server speaks RFB {major}.{minor}; 3.3 or later is required"
            )
        version = (3, 8) if (major, minor) >= (3, 8) else (3, 7) if minor == 7 else (3, 3)
        self._version = version
        self._send(b"RFB %03d.%03d\n" % version)

        if version == (3, 3):  # §7.1.2 note: the server picks the type
            security = yield from self._read_u32("security type")
            if security == 0:
                reason = yield from self._read_reason()
                raise ServerRefused(f"VNC server refused the connection: {reason}")
            self.offered = (security,)
            # RFB 3.3 has no negotiation: only None and VncAuth are defined there.
            if security not in (sec.NONE, sec.VNC_AUTH) or self.credentials.lacks(security):
                self._unusable([security])
        else:
            count = yield from self._read_u8("number of security types")
            if count == 0:
                reason = yield from self._read_reason()
                raise ServerRefused(f"VNC server refused the connection: {reason}")
            self.offered = sec.dedupe((yield from self._read(count, "security types")))
            security = sec.choose(self.offered, self.credentials, skip=self._skip)
            if security is None:
                self._unusable(self.offered)
            self._send(bytes([security]))
        self.security = self.method = security

        yield from self._authenticate(security, version)

        shared = (yield _CLIENT_INIT) if self._shared is None else (b"\x01" if self._shared else b"\x00")
        self._send(shared)  # ClientInit, §7.3.1

        header = yield from self._read(24, "ServerInit")
        width, height, pixel_format, name_length = struct.unpack(">HH16sI", header)
        if name_length > self._max_name:
            raise ProtocolViolation(
                f"desktop name of {name_length} bytes exceeds {self._max_name}"
            )
        name = yield from self._read(name_length, "desktop name", counted=False)
        if self._tight:
            yield from self._skip_tight_capabilities()
        server_init = ServerInit(width, height, pixel_format, _decode(name), header + name)
        return HandshakeComplete(server_init, version, security, self._take_input(), method=self.method,
                                 tls=self._tls)

    # -- security types --------------------------------------------------------------

    def _unusable(self, offered) -> None:
        sentence, lacking = sec.unusable(offered, self.credentials, self.who)
        # VeNCrypt was chosen but none of its subtypes fits: another offered type might.
        fallback = self.security == sec.VENCRYPT and any(
            m != sec.VENCRYPT and self.credentials.lacks(m) is None for m in self.offered)
        raise UnsupportedSecurity(sentence, offered=offered, lacking=lacking, fallback=fallback)

    def _authenticate(self, method: int, version: tuple[int, int]) -> Generator[int, bytes, None]:
        """The chosen method's messages, then SecurityResult where one comes (§7.1.3)."""
        creds = self.credentials
        result = True
        if method == sec.NONE:
            result = version == (3, 8)  # 3.3 and 3.7 send none after None (§7.2.1)
        elif method == sec.VNC_AUTH:
            yield from self._vnc_auth()
        elif method == sec.TIGHT:
            result = yield from self._tight_auth(version)
        elif method == sec.VENCRYPT:
            yield from self._vencrypt(version)
            return
        elif method == sec.ARD:
            generator = yield from self._read_u16("Apple ARD generator")
            size = yield from self._read_u16("Apple ARD key size")
            if not 1 <= size <= 1024:
                raise ProtocolViolation(f"Apple ARD key size of {size} bytes")
            prime = yield from self._read(size, "Apple ARD prime")
            public = yield from self._read(size, "Apple ARD public value")
            try:
                self._send(ard_response(generator, prime, public, creds.username, _text(creds.password)))
            except DHError as exc:
                raise UnsupportedSecurity(f"{self.who}: {exc}", offered=(sec.ARD,)) from exc
        elif method == sec.MSLOGON2:
            generator = yield from self._read(8, "MS-Logon II generator")
            modulus = yield from self._read(8, "MS-Logon II modulus")
            public = yield from self._read(8, "MS-Logon II public value")
            try:
                self._send(mslogon2_response(generator, modulus, public, creds.username, _text(creds.password)))
            except DHError as exc:
                raise ProtocolViolation(f"VNC server sent unusable MS-Logon II numbers: {exc}") from exc
        else:  # choose() returns only the methods above
            raise UnsupportedSecurity(f"{self.who} requires {sec.name(method)}", offered=(method,))
        if result:
            yield from self._security_result(method, version)

    def _vnc_auth(self) -> Generator[int, bytes, None]:
        challenge = yield from self._read(16, "VncAuth challenge")  # §7.2.2
        assert self.credentials.password  # choose() checked it
        self._send(vnc_auth_response(self.credentials.password, challenge))

    def _security_result(self, method: int, version: tuple[int, int]) -> Generator[int, bytes, None]:
        status = yield from self._read_u32("SecurityResult")
        if status == 0:
            return
        reason = (yield from self._read_reason()) if version == (3, 8) else ""
        if status == 2:  # Tight: "failed, too many attempts"
            raise ServerRefused(f"VNC server refused: too many authentication failures{': ' + reason if reason else ''}")
        if method in (sec.NONE, sec.TLS_NONE, sec.X509_NONE):
            what = "VNC server refused access"
        elif method in sec.NEEDS_USER:
            what = f"VNC server rejected the user name or password ({sec.name(method)})"
        else:
            what = "VNC server rejected the password"
        raise AuthenticationFailed(f"{what}: {reason}" if reason else what)

    def _read_capability(self, what: str) -> Generator[int, bytes, tuple[int, bytes, bytes]]:
        raw = yield from self._read(16, what)
        return struct.unpack(">i", raw[:4])[0], raw[4:8], raw[8:]

    def _read_count(self, what: str) -> Generator[int, bytes, int]:
        count = yield from self._read_u32(what)
        if count > MAX_TIGHT_CAPABILITIES:
            raise ProtocolViolation(f"{what} of {count} exceeds {MAX_TIGHT_CAPABILITIES}")
        return count

    def _tight_auth(self, version: tuple[int, int]) -> Generator[int, bytes, bool]:
        """Tight (16): tunnels, then an auth capability (rfbproto "Tight Security Type").

        Returns whether a SecurityResult follows: TightVNC sends one after
        VncAuth, and after no authentication only on RFB 3.8.
        """
        self._tight = True
        tunnels = yield from self._read_count("number of Tight tunnels")
        caps = []
        for _ in range(tunnels):
            caps.append((yield from self._read_capability("Tight tunnel")))
        if tunnels:
            if TIGHT_NOTUNNEL not in caps:
                raise UnsupportedSecurity(f"{self.who} offers only Tight tunnels the agent does not support "
                                          f"({', '.join(v.decode('latin-1') + s.decode('latin-1') for _, v, s in caps)})",
                                          offered=(sec.TIGHT,))
            self._send(_U32.pack(0))  # NOTUNNEL
        count = yield from self._read_count("number of Tight authentication types")
        offered = []
        for _ in range(count):
            offered.append((yield from self._read_capability("Tight authentication type")))
        if count == 0:  # "the protocol proceeds directly at security type None"
            self.method = sec.NONE
            return version == (3, 8)
        methods = {TIGHT_AUTH[c]: c[0] for c in offered if c in TIGHT_AUTH}
        inner = dataclasses.replace(self.credentials, allowed=frozenset())  # allowing Tight allows its logins
        choice = next((m for m in (sec.VNC_AUTH, sec.NONE) if m in methods and not inner.lacks(m)), None)
        if choice is None:
            names = [sec.name(TIGHT_AUTH[c]) if c in TIGHT_AUTH else (c[1] + c[2]).decode("latin-1")
                     for c in offered]
            lacking = {m: inner.lacks(m) for m in methods}
            if sec.VNC_AUTH in methods:
                sentence, _ = sec.unusable([sec.VNC_AUTH], inner, self.who)
            else:
                sentence = (f"{self.who} offers Tight security with only {', '.join(names)}, which the agent "
                            "does not support: turn on VNC password authentication in its settings")
            raise UnsupportedSecurity(sentence, offered=(sec.TIGHT,), lacking=lacking)
        self._send(_U32.pack(methods[choice]))
        self.method = choice
        if choice == sec.VNC_AUTH:
            yield from self._vnc_auth()
            return True
        return version == (3, 8)

    def _skip_tight_capabilities(self) -> Generator[int, bytes, None]:
        """Tight extends ServerInit with interaction capabilities; a viewer that chose None
        does not expect them, so they are read here and not replayed."""
        counts = yield from self._read(8, "Tight interaction capabilities")
        servers, clients, encodings, _pad = struct.unpack(">HHHH", counts)
        total = servers + clients + encodings
        if total > 3 * MAX_TIGHT_CAPABILITIES:
            raise ProtocolViolation(f"{total} Tight interaction capabilities")
        if total:
            yield from self._read(16 * total, "Tight interaction capabilities")

    def _vencrypt(self, version: tuple[int, int]) -> Generator[int, bytes, None]:
        """VeNCrypt 0.2 (rfbproto "VeNCrypt"): pick a subtype, TLS if it says so, its login."""
        major, minor = (yield from self._read(2, "VeNCrypt version"))
        if (major, minor) < (0, 2):
            raise UnsupportedSecurity(f"{self.who} speaks VeNCrypt {major}.{minor}; the agent needs 0.2",
                                      offered=(sec.VENCRYPT,))
        self._send(b"\x00\x02")
        if (yield from self._read_u8("VeNCrypt version acknowledgement")) != 0:
            raise ServerRefused("VNC server refused VeNCrypt version 0.2")
        count = yield from self._read_u8("number of VeNCrypt subtypes")
        if count == 0 or count > MAX_VENCRYPT_SUBTYPES:
            raise ProtocolViolation(f"VeNCrypt subtype list of {count}")
        raw = yield from self._read(4 * count, "VeNCrypt subtypes")
        subtypes = self._vencrypt_offered = sec.dedupe(struct.unpack(f">{count}I", raw))
        # Any plain security type may appear in the list too (not VeNCrypt itself).
        candidates = [s for s in subtypes if s in sec.VENCRYPT_SUBTYPES or s in (sec.NONE, sec.VNC_AUTH)]
        method = sec.choose(candidates, self.credentials)
        if method is None:
            self._unusable(subtypes)
        self._send(_U32.pack(method))
        self.method = method
        if method in (sec.NONE, sec.VNC_AUTH):
            yield from self._authenticate(method, version)
            return
        if method != sec.PLAIN:
            if (yield from self._read_u8("VeNCrypt subtype acknowledgement")) != 1:
                raise ServerRefused(f"VNC server refused {sec.name(method)}")
            x509 = method in sec.VENCRYPT_X509
            trust = self.credentials.trust
            try:
                context = verified_context(trust) if x509 else anonymous_context()
            except (OSError, ssl.SSLError) as exc:  # the CA file is missing or not PEM
                raise CertificateRejected(f"the agent cannot read vnc_ca_file {trust.ca_file} "
                                          f"({getattr(exc, 'strerror', None) or exc})") from exc
            self._tls = TLSLayer(context, self._server_name, trust.pins if x509 else ())
            if self._inbuf:  # early TLS bytes: they belong to the TLS layer
                self._tls.receive(self._take_input())
            yield _TLS_HANDSHAKE
        if method in (sec.TLS_VNC, sec.X509_VNC):
            yield from self._vnc_auth()
        elif method in (sec.PLAIN, sec.TLS_PLAIN, sec.X509_PLAIN):
            user = self.credentials.username.encode("utf-8")
            word = self.credentials.password
            word = word.encode("utf-8") if isinstance(word, str) else (word or b"")
            self._send(struct.pack(">II", len(user), len(word)) + user + word)
        # VeNCrypt always ends with a SecurityResult (none of its subtypes is plain None).
        yield from self._security_result(method, version)


class ServerHandshake(_Handshake):
    """Agent as RFB server toward the viewer; offers only security type None.

    Normal mode (``server_init`` given): returns ``ViewerReady`` when the
    viewer's ClientInit arrives, with ``server_init.raw`` already queued.

    Deferred mode (neither given): returns ``ViewerReady`` at ClientInit with
    nothing queued, so the caller can log in to the real server with the
    viewer's shared flag first; then ``send_server_init()`` queues it.

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
        if server_init is not None and failure is not None:
            raise ValueError("pass at most one of server_init and failure")
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
        if self._server_init is not None:
            self._outbuf += self._server_init.raw
        return ViewerReady(bool(shared), self._take_input())

    def send_server_init(self, server_init: ServerInit) -> None:
        """Deferred mode: queue the real server's ServerInit after ``ViewerReady``."""
        if not self._done or self._server_init is not None or self._failure is not None:
            raise ValueError("send_server_init() is only for deferred mode, after ViewerReady")
        self._server_init = server_init
        self._outbuf += server_init.raw
