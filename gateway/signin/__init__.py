"""Company sign-in and onboarding (issue 12, DESIGN.md §7).

- ``login``        which check a typed password gets: local, LDAP (``ldap``) or none (OIDC)
- ``ldap``         LDAP / Active Directory, search then bind (ldap3)
- ``groups``       company groups → Ponte groups, at each sign-in
- ``offloop``      blocking I/O (LDAP, SMTP) off the gevent loop
- ``errors``       this package's exception tree
"""

from .login import password_check

__all__ = ["password_check"]
