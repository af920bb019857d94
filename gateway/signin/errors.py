"""The exceptions of company sign-in and onboarding::

    SigninError             base: nothing here crashes a request with another type
    ├── DirectoryError      the LDAP directory is unreachable, or refused the service account
    ├── ProviderError       the OpenID provider's answer is unusable (discovery, token, ID token)
    ├── InvitationError     a one-time link is unknown, used or expired
    ├── ImportRefused       a CSV file that cannot be read at all (rows are reported one by one)
    └── MailError           the SMTP server did not take the message

Library errors (ldap3, Authlib, smtplib) are translated at the boundary with ``raise … from exc``.
"""

from __future__ import annotations


class SigninError(Exception):
    """Base of company sign-in and onboarding errors."""


class DirectoryError(SigninError):
    """The LDAP directory cannot be reached, or its service account is refused."""


class ProviderError(SigninError):
    """The OpenID provider cannot be used, or sent something that does not verify."""


class InvitationError(SigninError):
    """A one-time link that is unknown, already used or expired (never says which)."""


class ImportRefused(SigninError):
    """A CSV file that cannot be imported at all (not CSV, no header, wrong columns)."""


class MailError(SigninError):
    """The message could not be handed to the SMTP server."""
