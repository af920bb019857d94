"""Which check a typed password gets, by the person's sign-in method (the admin's choice).

``local``  the argon2 hash stored here (``security.verify_password``);
``ldap``   the company directory of the person's firm (``ldap.authenticate``, ``firms``),
           whose groups are then mapped to Ponte groups (``groups.sync_groups``) at this login;
``oidc``   no password at all: the person uses the login page's "Sign in with …" button.
           A typed password costs the same hash as a wrong one and fails.

``password_check(user)`` reads what it needs from the row first and returns the check,
so that ``auth.login`` can let go of its database connection while the password is
hashed or the directory answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import request

from ..config import GatewaySettings
from ..errors import AccountDisabled, DirectoryError
from ..extensions import db
from ..loop import off_loop
from ..models import User, audit
from ..security import verify_password
from . import groups
from .firms import settings_for
from .ldap import authenticate

log = logging.getLogger(__name__)


def password_check(user: User | None) -> Callable[[str], bool]:
    """A function ``password -> bool`` right for ``user`` (``None``: an unknown name)."""
    method = user.signin_method if user is not None else "local"
    if method == "ldap":
        # The directory of the person's own firm (``firms``), read now, before the connection goes.
        return _ldap_check(user.id, user.name, settings_for(user.organisation_id))
    stored = user.password_hash if user is not None and method == "local" else None
    return lambda password: verify_password(stored, password)


def _ldap_check(user_id: int, name: str, settings: GatewaySettings) -> Callable[[str], bool]:
    def check(password: str) -> bool:
        ip = request.remote_addr or ""
        if not settings.ldap_url:
            log.warning("%s signs in with LDAP, but ldap_url is not set", name)
            return False
        try:
            identity = off_loop(authenticate, settings, name, password)
        except AccountDisabled:
            audit("ldap_refused", actor="ldap", ip=ip, target=name, detail="account disabled in the directory")
            return False
        except DirectoryError as exc:
            log.warning("LDAP sign-in of %s: %s", name, exc)
            audit("ldap_unavailable", actor="ldap", ip=ip, target=name, detail=str(exc))
            return False
        if identity is None:
            return False
        user = db.session.get(User, user_id)
        if user is None:
            return False
        if identity.email and not user.email:
            user.email = identity.email[:255]
        if identity.display_name and not user.display_name:
            user.display_name = identity.display_name[:128]
        groups.sync_groups(user, identity.groups, groups.parse_map(settings.ldap_group_map), actor="ldap", ip=ip)
        return True
    return check
