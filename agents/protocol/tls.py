"""TLS toward the local VNC server without sockets: ``ssl.MemoryBIO`` + ``SSLObject``.

VeNCrypt (security type 19) switches a VNC connection to TLS in the middle of
the RFB handshake, and the rest of the session then runs inside it. ``TLSLayer``
is that TLS connection as a pure object, like the handshakes in ``rfb``: feed it
the bytes the server sent (``receive``), take the bytes to send
(``data_to_send``), read and write plaintext. The handshake classes drive it
during login; ``agents.pipe.TLSSocket`` drives it for the relay afterwards.

Two kinds of context, as VeNCrypt's subtypes want them:

* ``anonymous_context()`` for the TLS* subtypes (TLSNone, TLSVnc, TLSPlain):
  anonymous (EC)DH, as TigerVNC and x11vnc run it. There is no certificate, so
  it guards against eavesdropping only; TLS 1.3 has no anonymous ciphers, so
  TLS 1.2, and OpenSSL wants ``@SECLEVEL=0`` before it offers ``aNULL`` ciphers.
* ``verified_context(trust)`` for the X509* subtypes: the server's certificate
  must chain to ``trust.ca_file`` and name the host we dialled, or match one of
  ``trust.pins`` (SHA-256 of the certificate, checked after the handshake).

Errors: ``ssl.SSLError`` from OpenSSL, as it comes (the RFB handshake
translates it), and ``CertificateMismatch`` (``errors.py``): OpenSSL accepted
the certificate, the pin did not.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from dataclasses import dataclass

from .errors import CertificateMismatch

#: Anonymous key exchange only, no null encryption or broken ciphers; OpenSSL 3 needs
#: security level 0 to offer any aNULL suite at all.
ANON_CIPHERS = "aNULL:!eNULL:!DES:!3DES:!RC4:!MD5:@SECLEVEL=0"
READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class Trust:
    """What the agent trusts for the VNC server's certificate (X509* subtypes)."""

    ca_file: str = ""                # PEM file of CAs (or the server's own self-signed certificate)
    pins: tuple[str, ...] = ()       # SHA-256 of the certificate, lower-case hex without ':'

    @property
    def configured(self) -> bool:
        return bool(self.ca_file or self.pins)


def anonymous_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ANON_CIPHERS)
    return ctx


def verified_context(trust: Trust) -> ssl.SSLContext:
    if trust.pins:
        # The pin is the trust anchor (typically a self-signed VNC server): checked by
        # TLSLayer right after the handshake, so chain and name checks are off.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=trust.ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


class TLSLayer:
    """One TLS client connection over memory buffers (nothing here does I/O)."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None = None, pins: tuple[str, ...] = ()):
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=False,
                                     server_hostname=server_hostname if context.check_hostname else None)
        self._pins = pins
        self.established = False
        self.closed = False  # the server sent close_notify, or the connection ended

    def receive(self, raw: bytes) -> None:
        """Bytes from the server; ``b""`` means it closed the connection."""
        if raw:
            self._in.write(raw)
        else:
            self._in.write_eof()

    def handshake(self) -> bool:
        """Advance the TLS handshake; True once it is complete (certificate checked)."""
        if self.established:
            return True
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        if self._pins:
            got = fingerprint(self._obj.getpeercert(binary_form=True) or b"")
            # Compare against every pin (no early exit) in constant time.
            if not any([hmac.compare_digest(got, pin) for pin in self._pins]):
                raise CertificateMismatch(f"its SHA-256 is {got}, the agent is pinned to {', '.join(self._pins)}")
        self.established = True
        return True

    def read(self) -> bytes:
        """All plaintext available now (``b""`` if none yet, or once closed)."""
        chunks = []
        while not self.closed:
            try:
                data = self._obj.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify
                self.closed = True
                break
            except ssl.SSLEOFError:  # the TCP connection ended without close_notify
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            chunks.append(data)
        return b"".join(chunks)

    def read_into(self, buffer) -> int:
        """Decrypt into ``buffer``; 0 means "nothing yet" unless ``closed`` is set."""
        if self.closed:
            return 0
        try:
            n = self._obj.read(len(buffer), buffer)
        except ssl.SSLWantReadError:
            return 0
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self.closed = True
            return 0
        if not n:
            self.closed = True
        return n

    def write(self, data: bytes) -> None:
        """Encrypt plaintext for the server (collect it with ``data_to_send``)."""
        view = memoryview(data)
        while view:
            n = self._obj.write(view)
            view = view[n:]

    def data_to_send(self) -> bytes:
        return self._out.read()

    def close(self) -> None:
        """Queue close_notify (best effort)."""
        try:
            self._obj.unwrap()
        except ssl.SSLError:
            pass

    @property
    def version(self) -> str | None:
        return self._obj.version()

    @property
    def cipher(self) -> str | None:
        found = self._obj.cipher()
        return found[0] if found else None

    @property
    def peer_fingerprint(self) -> str:
        return fingerprint(self._obj.getpeercert(binary_form=True) or b"")
