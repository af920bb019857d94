"""Who may open a machine (admins): its grants; grant and take back, to a user or to a group.

PUT answers 201 when it made a grant and 200 when there was one already. ``POST grants/bulk``
and ``POST groups/<g>/members/bulk`` change many at once (``gateway.ops.bulk``).
"""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _

from .. import ops
from ..errors import ApiError
from ..models import Group, Machine, User
from . import admin_only, bp
from .inputs import body, string, who
from .machines import machine_json


@bp.get("/machines/<machine>/grants")
@admin_only
def machine_grants(machine: str):
    return jsonify(machine_json(ops.get_machine(machine))["grants"])


def _granted(machine: Machine, holder: User | Group, key: str):
    added = ops.grant(holder, machine, **who())
    return jsonify(grant={key: holder.name, "machine": machine.name}, changed=added), 201 if added else 200


def _ungranted(machine: Machine, holder: User | Group, key: str):
    removed = ops.ungrant(holder, machine, **who())
    return jsonify(grant={key: holder.name, "machine": machine.name}, changed=removed)


# The machine is looked up first: when both are missing, the answer names the machine.

@bp.put("/machines/<machine>/grants/<user>")
@admin_only
def grant_put(machine: str, user: str):
    return _granted(ops.get_machine(machine), ops.get_user(user), "user")


@bp.delete("/machines/<machine>/grants/<user>")
@admin_only
def grant_delete(machine: str, user: str):
    return _ungranted(ops.get_machine(machine), ops.get_user(user), "user")


@bp.put("/machines/<machine>/group-grants/<group>")
@admin_only
def group_grant_put(machine: str, group: str):
    return _granted(ops.get_machine(machine), ops.get_group(group), "group")


@bp.delete("/machines/<machine>/group-grants/<group>")
@admin_only
def group_grant_delete(machine: str, group: str):
    return _ungranted(ops.get_machine(machine), ops.get_group(group), "group")


# -- many at once ---------------------------------------------------------------------------------

#: The most references one list of a bulk call may hold.
BULK_LIST_MAX = 1000


def _refs(fields: dict, key: str) -> list:
    """``fields[key]``: a list of ids or names (absent: empty), else 400."""
    value = fields.get(key, [])
    if not isinstance(value, list) or len(value) > BULK_LIST_MAX or \
            not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise ApiError(400, "bad_request", _("%(field)s must be a list of at most %(max)s ids or names.",
                                             field=repr(key), max=BULK_LIST_MAX))
    return value


@bp.post("/grants/bulk")
@admin_only
def grants_bulk():
    """``{"action": "grant"|"ungrant", "users": [...], "groups": [...], "machines": [...]}``: every
    user and group gets (or loses) every machine, in one transaction; every reference is looked
    up first, so a missing one (404) changes nothing."""
    fields = body()
    action = string(fields, "action")
    if action not in ("grant", "ungrant"):
        raise ApiError(400, "bad_request", _("'action' must be \"grant\" or \"ungrant\"."))
    holders = [ops.get_user(r) for r in _refs(fields, "users")] + [ops.get_group(r) for r in _refs(fields, "groups")]
    machines = [ops.get_machine(r) for r in _refs(fields, "machines")]
    result = (ops.bulk_grant if action == "grant" else ops.bulk_ungrant)(holders, machines, **who())
    return jsonify(action=action, changed=result.changed, unchanged=result.unchanged)


@bp.post("/groups/<group>/members/bulk")
@admin_only
def group_members_bulk(group: str):
    """``{"users": [...]}``: put them all in the group, in one transaction."""
    found = ops.get_group(group)
    users = [ops.get_user(r) for r in _refs(body(), "users")]
    result = ops.bulk_add_members(found, users, **who())
    return jsonify(group=found.name, changed=result.changed, unchanged=result.unchanged)
