"""JSON API routes for second factors, on the API blueprint: one's own factors, and for
admins the policy and "reset factors" (``admin_only``: a recent login by cookie)."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from ..api import ApiError, admin_only, bp
from ..api.inputs import body as _body
from ..auth import actor, client_ip
from ..extensions import db
from ..models import User
from . import manage, policy, recovery
from ..errors import FactorError


def policy_json(p: policy.Policy) -> dict:
    return {"require": p.require, "group_ids": sorted(p.group_ids), "passkey_login": p.passkey_login}


@bp.get("/me/factors")
def my_factors():
    user = current_user._get_current_object()
    return jsonify(totp=manage.totp_on(user), recovery_codes_left=recovery.remaining(user),
                   passkeys=[{"id": p.id, "name": p.name, "created_at": p.created_at.isoformat() + "Z",
                              "last_used_at": p.last_used_at.isoformat() + "Z" if p.last_used_at else None}
                             for p in manage.passkeys(user)],
                   required=policy.required_for(user))


@bp.get("/factors/policy")
@admin_only
def factor_policy_get():
    return jsonify(policy=policy_json(policy.current()))


@bp.put("/factors/policy")
@admin_only
def factor_policy_put():
    """``{"require": "off"|"everyone"|"admins"|"groups", "group_ids": [...], "passkey_login": bool}``."""
    body = _body()
    groups = body.get("group_ids", [])
    if not isinstance(groups, list) or not all(isinstance(g, int) and not isinstance(g, bool) for g in groups):
        raise ApiError(400, "bad_request", "'group_ids' must be a list of group ids.")
    if not isinstance(body.get("passkey_login", False), bool):
        raise ApiError(400, "bad_request", "'passkey_login' must be true or false.")
    try:
        saved = policy.save(body.get("require") if isinstance(body.get("require"), str) else "", groups,
                            body.get("passkey_login", False), actor=actor(), ip=client_ip())
    except FactorError as exc:
        raise ApiError(400, "invalid", str(exc)) from exc
    return jsonify(policy=policy_json(saved))


@bp.post("/users/<int:user_id>/factors/reset")
@admin_only
def user_factors_reset(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, "not_found", "No such user.")
    manage.reset(user, actor=actor(), ip=client_ip())
    return jsonify(user={"id": user.id, "name": user.name, "totp": False, "passkeys": 0})
