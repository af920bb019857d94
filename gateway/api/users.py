"""People (admins): list, create, read, change, log out everywhere, delete."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from sqlalchemy import select

from .. import ops
from ..auth import account_key, throttle
from ..extensions import db
from ..models import User
from ..reports import iso
from . import admin_only, bp
from ..errors import ApiError
from .inputs import body, boolean, string, who


def _under_attack(names) -> set[str]:
    """Those of this firm's ``names`` whose login was throttled lately (keyed as ``auth.account_key``)."""
    keys = {account_key(n): n for n in names}
    return {keys[k] for k in throttle().accounts_under_attack(list(keys))}


def user_json(u: User, attacked: set[str] | None = None) -> dict:
    """``attacked``: names under login attack, when the caller looked them up for many users."""
    attacked = _under_attack([u.name]) if attacked is None else attacked
    return {"id": u.id, "name": u.name, "admin": u.is_admin, "disabled": u.disabled,
            "under_attack": u.name in attacked,
            "created_at": iso(u.created_at), "groups": [{"id": g.id, "name": g.name} for g in u.groups],
            "machines": [{"id": gr.machine.id, "name": gr.machine.name}
                         for gr in sorted(u.grants, key=lambda gr: gr.machine.name)]}


@bp.get("/users")
@admin_only
def users():
    rows = list(db.session.scalars(select(User).order_by(User.name)))
    attacked = _under_attack([u.name for u in rows])
    return jsonify(users=[user_json(u, attacked) for u in rows])


@bp.post("/users")
@admin_only
def user_create():
    fields = body()
    user = ops.add_user(string(fields, "name"), string(fields, "password"), admin=bool(boolean(fields, "admin")),
                        **who())
    return jsonify(user=user_json(user)), 201


@bp.get("/users/<user>")
@admin_only
def user_get(user: str):
    return jsonify(user=user_json(ops.get_user(user)))


@bp.patch("/users/<user>")
@admin_only
def user_update(user: str):
    """Change ``password``, ``disabled`` and/or ``admin``."""
    found = ops.get_user(user)
    fields = body()
    unknown = set(fields) - {"password", "disabled", "admin"}
    if unknown:
        raise ApiError(400, "bad_request", _("Unknown fields: %(fields)s.", fields=", ".join(sorted(unknown))))
    password = string(fields, "password", required=False)
    disabled, admin = boolean(fields, "disabled"), boolean(fields, "admin")
    if password is not None:
        ops.set_password(found, password, **who())
    if admin is not None:
        ops.set_admin(found, admin, **who())
    if disabled is not None:
        ops.set_disabled(found, disabled, **who())
    return jsonify(user=user_json(found))


@bp.post("/users/<user>/logout")
@admin_only
def user_logout(user: str):
    """Log the user out everywhere: their cookies stop working and their live sessions end."""
    found = ops.get_user(user)
    ops.end_logins(found, "An admin logged you out", action="user_logout", **who())
    return jsonify(user=user_json(found))


@bp.delete("/users/<user>")
@admin_only
def user_delete(user: str):
    found = ops.get_user(user)
    name = found.name
    ops.delete_user(found, **who())
    return jsonify(deleted={"user": name})
