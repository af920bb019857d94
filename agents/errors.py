"""Every error the agent raises, drawn once (as httpx's ``_exceptions.py``).

The agent's own errors (I/O, settings, the gateway's verdicts) have the root
``AgentError``; the pure protocols it shares with the gateway have theirs,
``agents.protocol.errors.ProtocolError`` (framing, control, RFB). Library
errors are translated where they arise: ``ssl.SSLError`` and ``OSError``
while dialling become ``TransportError``, websockify's bare ``Exception``
during its handshake becomes ``FramingError``, OpenSSL's verdict on a VNC
server's certificate becomes ``CertificateRejected``. Each module re-exports
the errors it raises (``transport.TransportError``, ...)::

    AgentError
    ├── ConfigError              a setting is missing, unknown or malformed
    ├── TransportError           the gateway cannot be reached or trusted
    │   ├── InsecureRefused      plain ws:// or http:// without insecure_dev
    │   ├── PinMismatch          the certificate does not match the configured pin
    │   ├── HTTPError            the gateway answered an HTTP error (status, body)
    │   └── LoginFailed          the gateway did not accept the name and password
    ├── CredentialRefused        the gateway refused this PC's credential for good
    │                            (unknown or revoked): retrying cannot help
    ├── VNCUnavailable           the VNC server cannot be reached or refused us (``kind``)
    └── ServiceError             install / uninstall cannot go on: not root, no credential,
                                 an OS without a known service manager (``service``)

    agents.protocol.errors.ProtocolError   (see there)
    ├── FramingError / MessageTooBig
    ├── ControlError / LocalProtocolError / RemoteProtocolError
    ├── HandshakeError and the RFB failures
    ├── DHError / AESUnavailable
    └── CertificateMismatch
"""

from __future__ import annotations

from .protocol import vncstate


class AgentError(Exception):
    """The root of the agent's own errors."""


class ConfigError(AgentError):
    """A setting is missing or malformed."""


class TransportError(AgentError):
    """The gateway cannot be reached or trusted."""


class InsecureRefused(TransportError):
    """Plain ws:// or http:// without ``insecure_dev``."""


class PinMismatch(TransportError):
    """The gateway's certificate does not match the configured pin."""


class HTTPError(TransportError):
    """The gateway answered an HTTP error: ``status`` and the JSON ``body`` (or ``{}``)."""

    def __init__(self, status: int, body: dict | None, message: str):
        super().__init__(message)
        self.status = status
        self.body = body or {}


class LoginFailed(TransportError):
    """The gateway did not accept the name and password."""


class CredentialRefused(AgentError):
    """The gateway refused the machine credential for good (unknown or revoked)."""


class VNCUnavailable(AgentError):
    """The VNC server cannot be reached or refused us; the message says why in plain words."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind

    @property
    def employee(self) -> str:
        """The sentence for the person at the viewer (``protocol.vncstate``)."""
        return vncstate.employee(self.kind)


class ServiceError(AgentError):
    """Install or uninstall cannot go on (not root, no credential, unsupported OS)."""
