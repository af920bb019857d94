"""Recovery codes: ten one-time codes for when the phone is gone.

A code is 16 characters of an unambiguous alphabet (80 bits) shown as
``ABCD-EFGH-JKLM-NPQR``. Its first ``HINT`` characters are stored plainly to
find the row; the rest (60 bits) only as an argon2 hash, computed off the
gevent loop by ``gateway.security``. Shown once, at creation; regenerating
replaces them all.
"""

from __future__ import annotations

from flask_babel import gettext as _

import secrets

from sqlalchemy import delete, select, update

from ..extensions import db
from ..models import RecoveryCode, User, utcnow
from ..security import hash_password, verify_password
from ..errors import WrongCode

COUNT = 10
LENGTH = 16
HINT = 4
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def shown(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def replace_codes(user: User) -> list[str]:
    """New codes for ``user`` (the old ones stop working); returns them for showing, once. Caller commits."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_code() for _ in range(COUNT)]
    for code in codes:
        db.session.add(RecoveryCode(user_id=user.id, hint=code[:HINT], code_hash=hash_password(code[HINT:])))
    return [shown(c) for c in codes]


def remaining(user: User) -> int:
    return len(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all())


def use_code(user: User, typed: str) -> None:
    """Spend one recovery code of ``user`` (caller commits), or raise ``WrongCode``."""
    code = normalise(typed)
    if len(code) == LENGTH:
        rows = db.session.scalars(select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.hint == code[:HINT],
            RecoveryCode.used_at.is_(None))).all()
        for row in rows:
            if verify_password(row.code_hash, code[HINT:]):
                spent = db.session.execute(update(RecoveryCode).where(
                    RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None)).values(used_at=utcnow())
                    .execution_options(synchronize_session=False))
                if spent.rowcount == 1:
                    return
        if not rows:
            verify_password(None, code[HINT:])   # the same cost whether the hint exists or not
    raise WrongCode(_("That recovery code is not right, or was used already."))
