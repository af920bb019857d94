"""Company sign-in and onboarding (issue 12, DESIGN.md §7; docs/company-signin.md).

- ``login``         which check a typed password gets: local, LDAP, or none (OpenID people)
- ``ldap``          LDAP / Active Directory, search then bind (ldap3)
- ``oidc``          OpenID Connect code flow with PKCE (Authlib): ``/login/oidc``
- ``groups``        company groups → Ponte groups, at each sign-in
- ``accounts``      sign-in method per person; people added without a password
- ``invitations``   one-time set-password links (invitations, resets)
- ``mail``          outgoing mail (smtplib)
- ``importer``      people from CSV, with a dry-run plan
- ``views``         ``/invite/<link>``, ``/forgot``; ``admin_views``: ``/admin/signin/…``
- ``commands``      ``python -m gateway user signin|import``

Its exceptions (``SigninError`` and below, ``AccountDisabled``) are in ``gateway.errors``.
"""

from .login import password_check

__all__ = ["password_check"]
