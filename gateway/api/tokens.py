"""Bearer API tokens (admins): list, create (the secret is in that answer only), revoke."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import ops
from ..extensions import db
from ..models import ApiToken
from ..reports import iso
from . import admin_only, bp, no_store
from ..errors import ApiError
from .inputs import body, string, who


def token_json(t: ApiToken) -> dict:
    return {"id": t.id, "name": t.name, "prefix": t.prefix, "user": {"id": t.user.id, "name": t.user.name},
            "created_at": iso(t.created_at), "created_by": t.created_by, "expires_at": iso(t.expires_at),
            "last_used_at": iso(t.last_used_at), "revoked_at": iso(t.revoked_at), "usable": t.usable}


@bp.get("/tokens")
@admin_only
def tokens():
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc()))
    return jsonify(tokens=[token_json(t) for t in rows])


@bp.post("/tokens")
@admin_only
def token_create():
    """A bearer token for ``user`` (default: the caller); the secret is in this answer only."""
    fields = body()
    owner = ops.get_user(fields["user"]) if fields.get("user") is not None else current_user._get_current_object()
    days = fields.get("days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
        raise ApiError(400, "bad_request", _("'days' must be a whole number."))
    row, secret = ops.create_token(owner, string(fields, "name", required=False) or "", days=days, **who())
    return no_store(jsonify(token=token_json(row), secret=secret), 201)


@bp.delete("/tokens/<token>")
@admin_only
def token_revoke(token: str):
    row = ops.get_token(token)
    ops.revoke_token(row, **who())
    return jsonify(token=token_json(row))
