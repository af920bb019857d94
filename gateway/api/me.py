"""The caller: who they are, and the machines they may open."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from ..models import granted_machines
from ..policy_status import for_person
from . import bp


@bp.get("/me")
def me():
    return jsonify(user={"id": current_user.id, "name": current_user.name, "admin": current_user.is_admin})


@bp.get("/me/machines")
def my_machines():
    return jsonify(machines=[s.public_dict() for s in for_person(current_user, granted_machines(current_user))])
