"""Turning a person's factors on and off. Each change bumps their session epoch
(``ops.end_logins``): every login of theirs ends on every node, their live
sessions too (issue 9: 2FA changes end cookies). The person making the change in
their own browser keeps that one login (``keep_this_login``)."""

from __future__ import annotations

from flask import session
from flask_babel import gettext as _
from sqlalchemy import delete, select

from .. import ops
from ..extensions import db
from ..models import Passkey, RecoveryCode, TotpFactor, User, audit, utcnow
from . import recovery, totp
from ..errors import FactorError


def totp_factor(user: User) -> TotpFactor | None:
    return db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user.id))


def totp_on(user: User) -> bool:
    found = totp_factor(user)
    return found is not None and found.confirmed_at is not None


def passkeys(user: User) -> list[Passkey]:
    return list(db.session.scalars(select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.id)))


def start_totp(user: User) -> TotpFactor:
    """A fresh, unconfirmed secret (replacing an unconfirmed one). Committed."""
    found = totp_factor(user)
    if found is not None and found.confirmed_at is not None:
        raise FactorError(_("An authenticator app is on already; turn it off first to change it."))
    if found is None:
        found = TotpFactor(user_id=user.id)
        db.session.add(found)
    else:
        found.created_at, found.last_step = utcnow(), 0
    totp.set_secret(found, totp.new_secret())
    db.session.commit()
    return found


def confirm_totp(user: User, code: str, *, ip: str = "") -> list[str]:
    """Turn TOTP on with a first correct code; returns the new recovery codes (shown once)."""
    found = totp_factor(user)
    if found is None or found.confirmed_at is not None:
        raise FactorError(_("Start again: there is no authenticator app waiting for a code."))
    totp.use_code(found, code)
    found.confirmed_at = utcnow()
    codes = recovery.replace_codes(user)
    _changed(user, "factor_totp_on", ip=ip)
    return codes


def turn_off_totp(user: User, *, actor: str, ip: str = "") -> None:
    db.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id))
    if not passkeys(user):
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    _changed(user, "factor_totp_off", actor=actor, ip=ip)


def new_recovery_codes(user: User, *, ip: str = "") -> list[str]:
    if not totp_on(user) and not passkeys(user):
        raise FactorError(_("Recovery codes come with a second factor: turn one on first."))
    codes = recovery.replace_codes(user)
    audit("factor_recovery_new", actor=user.name, ip=ip, target=user.name)
    db.session.commit()
    return codes


def add_passkey(user: User, record: Passkey, *, ip: str = "") -> list[str] | None:
    """Store a verified passkey; the first factor of a person also brings recovery codes."""
    first = not totp_on(user) and not passkeys(user)
    db.session.add(record)
    codes = recovery.replace_codes(user) if first else None
    _changed(user, "factor_passkey_add", ip=ip)
    return codes


def remove_passkey(user: User, passkey_id: int, *, ip: str = "") -> None:
    found = db.session.get(Passkey, passkey_id)
    if found is None or found.user_id != user.id:
        raise FactorError(_("No such passkey."))
    db.session.delete(found)
    db.session.flush()
    if not totp_on(user) and not passkeys(user):
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    _changed(user, "factor_passkey_remove", ip=ip)


def rename_passkey(user: User, passkey_id: int, name: str) -> None:
    found = db.session.get(Passkey, passkey_id)
    if found is None or found.user_id != user.id:
        raise FactorError(_("No such passkey."))
    found.name = check_name(name)
    db.session.commit()


def check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 64:
        raise FactorError(_("Give the passkey a name of 1 to 64 characters."))
    return name


def reset(user: User, *, actor: str, ip: str = "") -> None:
    """An admin removes every factor and recovery code of ``user`` (who then sets one up again
    at the next login if the policy requires it)."""
    for model in (TotpFactor, RecoveryCode, Passkey):
        db.session.execute(delete(model).where(model.user_id == user.id))
    _changed(user, "factor_reset", actor=actor, ip=ip)


def _changed(user: User, action: str, *, actor: str | None = None, ip: str = "") -> None:
    # end_logins audits ``action`` and commits the caller's changes with the epoch bump.
    ops.end_logins(user, "Your sign-in settings changed", action=action, actor=actor or user.name, ip=ip)


def keep_this_login(user: User) -> None:
    """After a change that ended ``user``'s logins, this browser's login goes on at the new epoch."""
    from ..auth import EPOCH

    db.session.refresh(user)
    session[EPOCH] = user.session_epoch
