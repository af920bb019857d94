"""Account operations of company sign-in: the admin's choice of how a person signs in.

Audited and committed like ``gateway/machines.py``'s operations (whose errors they raise).
"""

from __future__ import annotations

from .. import machines as ops
from ..models import SIGNIN_METHODS, User, audit

METHOD_LABELS = {"local": "Password here", "ldap": "Company directory (LDAP)", "oidc": "Company sign-in (OpenID)"}


def set_signin_method(user: User, method: str, *, actor: str = "cli", ip: str = "") -> bool:
    """Make ``method`` the only way ``user`` signs in; every login of theirs ends (as a
    password change would). Returns False when it already was."""
    if method not in SIGNIN_METHODS:
        raise ops.AdminError(f"Sign-in method must be one of {', '.join(SIGNIN_METHODS)}.")
    if user.signin_method == method:
        return False
    audit("user_signin_method", actor=actor, ip=ip, target=user.name, detail=f"{user.signin_method} → {method}")
    user.signin_method = method
    ops.end_logins(user, "How you sign in was changed by an admin", action="user_logout", actor=actor, ip=ip)
    return True
