"""The gateway's exceptions, drawn once and defined here (as httpx's ``_exceptions.py``).

Library errors are translated where they cross into the gateway
(``raise … from exc``): a caller catches one of these, never ``redis``,
``socket``, ``ldap3`` or Authlib errors from deep inside. The modules that raise
them import them from here (``gateway.ops.AdminError`` is this module's class,
re-exported as part of the ``ops`` interface)::

    GatewayError                 root of everything this package raises on purpose
    ├── ConfigError              bad settings (``config``)
    ├── LiveStoreError           Redis did not answer (``live``; wraps redis.RedisError)
    ├── NodeBusError             a node-bus message that is not a valid command (``nodebus``)
    ├── HandshakeError           a WebSocket handshake we do not complete: HTTP 400 (``handshake``)
    ├── AgentUnavailable         no agent can serve this machine's session now (``hub``)
    ├── PeerUnreachable          another gateway node could not be dialled (``peering``)
    ├── SiblingError             a worker of this machine did not take a stream handed to it (``siblings``)
    ├── SealError                a sealed secret that does not open under this key (``sealing``)
    ├── ArchiveError             the agent's .pyz cannot be built here (``agent_zipapp``)
    ├── AdminError               an operation that cannot be done; the message names why (``ops``)
    │   ├── NotFound             no such user, group, machine or token
    │   └── Conflict             the name is taken
    │       └── LimitReached     the organisation is at a limit its provider set (``ops.org_limits``)
    ├── CrossOrganisation        a write to another organisation's row, refused (``scoping``): a bug
    ├── EnrolmentError           an enrolment code that is unknown, used or expired (``ops``)
    ├── ReportRefused            a viewer's quality report out of bounds; ``field`` names it (``quality``)
    ├── ApiError                 a refusal the JSON API reports: status, code, message (``api``)
    ├── RecordingFormatError     not a session recording, or damaged before its first chunk (``recording``)
    │   └── RenderError          a stream the renderer cannot draw: an encoding it lacks, or damage
    ├── ExportError              a recording's video export that cannot be made (no ffmpeg, a format not offered)
    ├── TransferRefused          the agent (or a limit) refused a file transfer; ``code`` says why (``files``)
    ├── PolicyError              a policy rule that cannot be (also a ValueError) (``policy``)
    ├── FactorError              a second-factor operation refused; message for the person (``factors``)
    │   ├── WrongCode            a TOTP or recovery code that does not match (or was used already)
    │   └── PasskeyError         a WebAuthn ceremony that failed verification (library errors wrapped)
    ├── SigninError              company sign-in and onboarding (``signin``)
    │   ├── DirectoryError       the LDAP directory is unreachable, or refused the service account
    │   ├── InvitationError      a one-time link is unknown, used or expired
    │   ├── ImportRefused        a CSV file that cannot be read at all (rows are reported one by one)
    │   └── MailError            the SMTP server did not take the message
    └── AccountDisabled          the directory's account is disabled (``signin.ldap``; the login
                                 answers it like a wrong password, so it is no ``SigninError``)

Where they surface: the JSON API maps ``NotFound`` / ``Conflict`` / other ``AdminError``
to 404 / 409 / 400 (``ApiError.from_admin_error``) and ``EnrolmentError`` to 403; the admin
pages flash the message; the CLI prints it.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the gateway's exceptions."""


class ConfigError(GatewayError):
    """A setting is missing, malformed or contradictory."""


class LiveStoreError(GatewayError):
    """Redis is unreachable or answered with an error."""


class NodeBusError(GatewayError):
    """A node-bus message that is malformed, oversized or of an unknown kind."""


class HandshakeError(GatewayError):
    """Why a request is not a WebSocket handshake we complete; ``headers`` go into the 400."""

    def __init__(self, message: str, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class AgentUnavailable(GatewayError):
    """No agent can serve the session: not connected to any node, or it failed the stream."""


class PeerUnreachable(GatewayError):
    """Another gateway node did not answer on its internal address, or refused the WebSocket."""


class SiblingError(GatewayError):
    """A sibling worker did not take a stream's socket (gone, stuck), or a hand-over was malformed."""


class SealError(GatewayError):
    """A sealed secret that does not open under this instance's key (another key, or altered)."""


class ArchiveError(GatewayError):
    """A vendored dependency is missing from the gateway's environment, or not pure Python."""


# -- operations (gateway.ops) ---------------------------------------------------------------------

class AdminError(GatewayError):
    """An admin change that cannot be made."""


class NotFound(AdminError):
    """The record the change names does not exist."""


class Conflict(AdminError):
    """The name is taken by another record of the same kind."""


class LimitReached(Conflict):
    """The organisation is at a limit its provider set (``ops.org_limits``)."""


class CrossOrganisation(GatewayError):
    """A write that would touch another organisation's row (``scoping``): a bug, never a user's mistake."""


class ReportRefused(GatewayError):
    """A viewer's quality report out of bounds; ``field`` says which part (``body`` for the whole).
    The API answers it 400, in the person's words."""

    def __init__(self, field: str):
        super().__init__(f"{field} out of bounds")
        self.field = field
class RecordingFormatError(GatewayError):
    """Not a session recording, or one damaged before its first chunk (``recording.format``)."""


class RenderError(RecordingFormatError):
    """A recording's stream that cannot be rendered: an encoding not decoded, or damage (``recording.render``)."""


class ExportError(GatewayError):
    """A recording's export that cannot be made: no ffmpeg, a format not offered, ffmpeg failed (``recording.export``)."""


class EnrolmentError(GatewayError):
    """An enrolment code that is unknown, used or expired."""


# -- the JSON API (gateway.api) -------------------------------------------------------------------

class ApiError(GatewayError):
    """A refusal the API reports to the client as ``{"error": {"code", "message"}}`` with ``status``
    (``api._error_reply``)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @classmethod
    def from_admin_error(cls, exc: AdminError) -> ApiError:
        """An operation's refusal: 404 for ``NotFound``, 409 for ``Conflict``, else 400."""
        if isinstance(exc, NotFound):
            return cls(404, "not_found", str(exc))
        if isinstance(exc, Conflict):
            return cls(409, "conflict", str(exc))
        return cls(400, "invalid", str(exc))


# -- second factors (gateway.factors) -------------------------------------------------------------

class FactorError(GatewayError):
    """A second-factor operation refused; ``str()`` is safe to show the person."""


class WrongCode(FactorError):
    """A TOTP or recovery code that does not match, or was used already."""


class PasskeyError(FactorError):
    """A WebAuthn ceremony that failed verification."""


# -- company sign-in and onboarding (gateway.signin) ----------------------------------------------

class SigninError(GatewayError):
    """Base of company sign-in and onboarding errors."""


class DirectoryError(SigninError):
    """The LDAP directory cannot be reached, or its service account is refused."""


class InvitationError(SigninError):
    """A one-time link that is unknown, already used or expired (never says which)."""


class ImportRefused(SigninError):
    """A CSV file that cannot be imported at all (not CSV, no header, wrong columns)."""


class MailError(SigninError):
    """The message could not be handed to the SMTP server."""


class AccountDisabled(GatewayError):
    """The directory has the person, but their account is disabled."""


class TransferRefused(GatewayError):
    """The agent (or a limit) refused a file transfer: ``code`` (``filestream.FAILURES``) and why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class PolicyError(GatewayError, ValueError):
    """A policy rule that cannot be; the message says what is wrong, in plain words (``policy``)."""
