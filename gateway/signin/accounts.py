"""Account operations of company sign-in: the admin's choice of how a person signs in.

Audited and committed like ``gateway/ops``' operations (whose errors they raise).
"""

from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l

from .. import ops
from ..ops.naming import check_name
from ..extensions import db
from ..models import SIGNIN_METHODS, User, audit, find_user

METHOD_LABELS = {"local": _l("Password here"), "ldap": _l("Company directory (LDAP)"),
                 "oidc": _l("Company sign-in (OpenID)")}


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


def add_invited_user(name: str, *, email: str = "", display_name: str = "", admin: bool = False,
                     signin_method: str = "local", actor: str = "cli", ip: str = "") -> User:
    """A person without a password (``password_hash`` empty never verifies): they choose it
    through an invitation link, or sign in through the company (``ldap``, ``oidc``)."""
    name = check_name(name, "A user name")
    if find_user(name) is not None:
        raise ops.Conflict(f"User {name!r} exists already.")
    if signin_method not in SIGNIN_METHODS:
        raise ops.AdminError(f"Sign-in method must be one of {', '.join(SIGNIN_METHODS)}.")
    email, display_name = (email or "").strip(), (display_name or "").strip()
    if email and (len(email) > 255 or "@" not in email or any(c.isspace() or ord(c) < 32 for c in email)):
        raise ops.AdminError(f"{email!r} is not an email address.")
    if len(display_name) > 128 or any(ord(c) < 32 for c in display_name):
        raise ops.AdminError(_("A display name has at most 128 printable characters."))
    user = User(name=name, password_hash="", is_admin=admin, email=email, display_name=display_name,
                signin_method=signin_method)
    db.session.add(user)
    audit("user_add", actor=actor, ip=ip, target=name,
          detail=", ".join(filter(None, ["admin" if admin else "", f"signs in with {signin_method}", "no password"])))
    db.session.commit()
    return user
