"""Every error the pure protocols raise, drawn once (as httpx's ``_exceptions.py``).

The pure modules shared with the gateway have a root of their own,
``ProtocolError``: the peer (or we, or a config file) broke a protocol or a
format, never an I/O failure.
The modules re-export the errors they raise (``rfb.HandshakeError``, ...)::

    ProtocolError
    ├── FramingError                 the peer broke RFC 6455 or our limits (``code``: the close to send)
    │   └── MessageTooBig            a frame or message above max_message (1009)
    ├── ControlError                 a control message that cannot be, or may not be, sent or received
    │   ├── LocalProtocolError       our mistake: an event this role may not send now
    │   └── RemoteProtocolError      the peer's: malformed, oversized or out-of-turn message
    ├── HandshakeError               the RFB handshake cannot complete; close the connection
    │   ├── ProtocolViolation        not RFB, bad values, input over our limits
    │   ├── UnsupportedVersion       ProtocolVersion older than 3.3
    │   ├── UnsupportedSecurity      no offered method fits what the agent holds
    │   ├── TLSFailed                VeNCrypt's TLS handshake failed
    │   │   └── CertificateRejected  the server's certificate is not trusted or not the pinned one
    │   ├── AuthenticationFailed     SecurityResult: the server rejected our credentials
    │   └── ServerRefused            a reason instead of security types, or "too many tries"
    ├── DHError (also ValueError)    the server's Diffie-Hellman parameters are unusable
    │   └── AESUnavailable           Apple ARD needs AES, from the optional ``cryptography``
    ├── CertificateMismatch          the certificate is not one of the pinned ones (OpenSSL
    │                                accepted it, the pin did not; OpenSSL's own ``ssl.SSLError``
    │                                comes as it is and the RFB handshake translates it)
    ├── SettingsError                a setting of the wrong type, an unknown one, unreadable TOML
    │                                (each loader turns it into its own ``ConfigError``)
    ├── WakeError (also ValueError)  a MAC, address or interface list Wake-on-LAN cannot use
    └── FileTransferError            a file transfer that cannot go on
        ├── UnsafeName               no usable file name is left once a name is made safe
        └── FileStreamError          a file-stream message that is malformed or out of turn
"""

from __future__ import annotations

# The close codes of RFC 6455 §7.4.1 that FramingError uses (wsframe.CloseCode has them all).
_PROTOCOL_ERROR = 1002
_MESSAGE_TOO_BIG = 1009


class ProtocolError(Exception):
    """The root: a protocol was broken (by the peer, or by us)."""


# -- WebSocket framing (wsframe, cutthrough) --

class FramingError(ProtocolError):
    """The peer sent something RFC 6455 or our limits do not allow; ``code`` is the close to send."""

    code: int = _PROTOCOL_ERROR

    def __init__(self, reason: str, code: int | None = None):
        super().__init__(reason)
        if code is not None:
            self.code = code

    @property
    def reason(self) -> str:
        return str(self)


class MessageTooBig(FramingError):
    """A frame or a reassembled message is larger than ``max_message``."""

    code = _MESSAGE_TOO_BIG


# -- the agent control protocol (control) --

class ControlError(ProtocolError):
    """A control message that cannot be, or may not be, sent or received."""


class LocalProtocolError(ControlError):
    """We tried to send something this role may not send (now)."""


class RemoteProtocolError(ControlError):
    """The peer sent a message that is malformed, oversized or out of turn."""

    def __init__(self, message: str, event=None):
        super().__init__(message)
        #: the event, when it decoded but came out of turn
        self.event = event


# -- RFB (rfb, security, dhauth, tls) --

class HandshakeError(ProtocolError):
    """The RFB handshake cannot complete; close the connection."""


class ProtocolViolation(HandshakeError):
    """The peer sent something that is not RFB or exceeds our limits."""


class UnsupportedVersion(HandshakeError):
    """The server's ProtocolVersion is well-formed but older than 3.3."""


class UnsupportedSecurity(HandshakeError):
    """No method the server offers fits what the agent holds (RFC 6143 §7.1.2).

    ``offered`` lists the server's methods (VeNCrypt subtypes when the
    failure was inside VeNCrypt), ``lacking`` maps each to what it needs
    (``security.LACKS_*``, ``NOT_ALLOWED`` or ``UNSUPPORTED``), and
    ``fallback`` is True when another offered security type would fit if the
    agent did not pick VeNCrypt (connect again without it).
    """

    def __init__(self, message: str, *, offered=(), lacking=None, fallback: bool = False):
        super().__init__(message)
        self.offered = tuple(offered)
        self.lacking = dict(lacking or {})
        self.fallback = fallback


class TLSFailed(HandshakeError):
    """The TLS handshake that VeNCrypt asked for failed.

    ``x509_offered`` lists the X509 subtypes the server also offered when an
    anonymous TLS subtype failed: giving the agent the certificate is the fix.
    """

    def __init__(self, message: str, *, x509_offered=()):
        super().__init__(message)
        self.x509_offered = tuple(x509_offered)


class CertificateRejected(TLSFailed):
    """The server's certificate is not trusted (CA, name) or not the pinned one."""


class AuthenticationFailed(HandshakeError):
    """SecurityResult reported failure: the server rejected our credentials."""


class ServerRefused(HandshakeError):
    """The server refused us: a reason instead of security types, or "too many tries"."""


class DHError(ProtocolError, ValueError):
    """The server's Diffie-Hellman parameters are unusable."""


class AESUnavailable(DHError):
    """Apple ARD needs AES, from the optional ``cryptography`` package."""


class CertificateMismatch(ProtocolError):
    """The server's certificate is not one of the pinned ones."""


# -- settings (settings) --

class SettingsError(ProtocolError):
    """A setting of the wrong type, an unknown setting, or TOML that does not parse."""


# -- Wake-on-LAN (wol) --

class WakeError(ProtocolError, ValueError):
    """A MAC address, IPv4 address or interface record that Wake-on-LAN cannot use."""


# -- file transfer (filenames, filestream) --

class FileTransferError(ProtocolError):
    """A file transfer that cannot go on."""


class UnsafeName(FileTransferError, ValueError):
    """No usable file name is left once a name is made safe (``filenames.safe_name``)."""


class FileStreamError(FileTransferError):
    """A file-stream message that is malformed or comes out of turn (``filestream``)."""
