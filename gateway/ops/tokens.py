"""Bearer API tokens: made for a user, shown once, stored hashed, revocable."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from flask_babel import gettext as _

from .. import refs
from ..extensions import db
from ..models import ApiToken, User, audit, utcnow
from ..security import hash_token, new_token
from ..errors import AdminError, NotFound
from .naming import check_name

TOKEN_PREFIX = "ponte_"
#: ``last_used_at`` is rewritten at most this often (one write per request would be a write per call).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def get_token(ref: str | int) -> ApiToken:
    """A token by id, else ``NotFound``."""
    token_id = refs.record_id(ref)
    token = db.session.get(ApiToken, token_id) if token_id is not None else None
    if token is None:
        raise NotFound(f"No API token {str(ref)!r}.")
    return token


def create_token(user: User, name: str, *, days: int | None = None, actor: str = "cli",
                 ip: str = "") -> tuple[ApiToken, str]:
    """A bearer token acting as ``user``; the secret is returned once, stored hashed."""
    name = check_name(name, "A token name") if name and name.strip() else "API token"
    if days is not None and not 1 <= days <= 3650:
        raise AdminError(_("A token's lifetime must be 1 to 3650 days (or none)."))
    secret = TOKEN_PREFIX + new_token(32)
    row = ApiToken(user_id=user.id, name=name, prefix=secret[:len(TOKEN_PREFIX) + 6],
                   token_hash=hash_token(secret), created_by=actor[:64],
                   expires_at=utcnow() + timedelta(days=days) if days else None)
    db.session.add(row)
    audit("token_create", actor=actor, ip=ip, target=user.name, detail=f"{name} ({row.prefix}…)")
    db.session.commit()
    return row, secret


def revoke_token(token: ApiToken, *, actor: str = "cli", ip: str = "") -> bool:
    """Revoke ``token``; False if it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    audit("token_revoke", actor=actor, ip=ip, target=token.user.name, detail=f"{token.name} ({token.prefix}…)")
    db.session.commit()
    return True


def user_for_token(secret: str) -> tuple[User, ApiToken] | None:
    """The (enabled) user a bearer token acts as, or ``None``."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if row is None or not row.usable or row.user.disabled:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
        db.session.commit()
    return row.user, row
