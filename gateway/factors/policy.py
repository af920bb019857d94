"""The admin's 2FA policy: who must have a second factor, and whether a passkey may replace
the password. One SQL row (``FactorPolicy``, id 1); no row means the defaults below."""

from __future__ import annotations

from flask_babel import gettext as _

from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import FactorPolicy, Group, Passkey, TotpFactor, User, audit, utcnow
from ..errors import FactorError

REQUIRE = {"off": "Nobody is required to", "everyone": "Everyone must", "admins": "Admins must",
           "groups": "Members of the chosen groups must"}


@dataclass(frozen=True)
class Policy:
    require: str = "off"
    group_ids: frozenset = frozenset()
    passkey_login: bool = False


def _row() -> FactorPolicy | None:
    """This organisation's policy row (one per firm; ``scoping`` picks the firm's)."""
    return db.session.scalar(select(FactorPolicy).order_by(FactorPolicy.id).limit(1))


def current() -> Policy:
    row = _row()
    if row is None:
        return Policy()
    return Policy(row.require, frozenset(g.id for g in row.groups), row.passkey_login)


def required_for(user: User, policy: Policy | None = None) -> bool:
    """Must ``user`` have a second factor under the policy?"""
    policy = policy or current()
    if policy.require == "everyone":
        return True
    if policy.require == "admins":
        return bool(user.is_admin)
    if policy.require == "groups":
        return any(g.id in policy.group_ids for g in user.groups)
    return False


def has_factor(user: User) -> bool:
    """A confirmed TOTP app or at least one passkey."""
    totp = db.session.scalar(select(TotpFactor.id).where(TotpFactor.user_id == user.id,
                                                         TotpFactor.confirmed_at.is_not(None)))
    return totp is not None or db.session.scalar(select(Passkey.id).where(Passkey.user_id == user.id)) is not None


def save(require: str, group_ids, passkey_login: bool, *, actor: str, ip: str = "") -> Policy:
    """Store the policy (audited, committed)."""
    if require not in REQUIRE:
        raise FactorError(_("Choose who must use a second factor."))
    groups = [db.session.get(Group, int(i)) for i in group_ids]
    if any(g is None for g in groups):
        raise FactorError(_("One of the chosen groups does not exist any more."))
    if require == "groups" and not groups:
        raise FactorError(_("Choose at least one group, or another rule."))
    row = _row() or FactorPolicy()
    row.require, row.passkey_login = require, bool(passkey_login)
    row.groups = groups if require == "groups" else []
    row.updated_at, row.updated_by = utcnow(), actor
    db.session.add(row)
    detail = f"require={require}" + (f" groups={','.join(g.name for g in groups)}" if require == "groups" else "") + \
        f" passkey_login={'yes' if passkey_login else 'no'}"
    audit("factor_policy", actor=actor, ip=ip, detail=detail)
    db.session.commit()
    return current()
