"""Who may open a machine (admins): its grants; grant and take back, to a user or to a group.

PUT answers 201 when it made a grant and 200 when there was one already.
"""

from __future__ import annotations

from flask import jsonify

from .. import ops
from . import admin_only, bp
from .inputs import who
from .machines import machine_json


@bp.get("/machines/<machine>/grants")
@admin_only
def machine_grants(machine: str):
    return jsonify(machine_json(ops.get_machine(machine))["grants"])


@bp.put("/machines/<machine>/grants/<user>")
@admin_only
def grant_put(machine: str, user: str):
    m, u = ops.get_machine(machine), ops.get_user(user)
    added = ops.grant(u, m, **who())
    return jsonify(grant={"user": u.name, "machine": m.name}, changed=added), 201 if added else 200


@bp.delete("/machines/<machine>/grants/<user>")
@admin_only
def grant_delete(machine: str, user: str):
    m, u = ops.get_machine(machine), ops.get_user(user)
    removed = ops.ungrant(u, m, **who())
    return jsonify(grant={"user": u.name, "machine": m.name}, changed=removed)


@bp.put("/machines/<machine>/group-grants/<group>")
@admin_only
def group_grant_put(machine: str, group: str):
    m, g = ops.get_machine(machine), ops.get_group(group)
    added = ops.grant(g, m, **who())
    return jsonify(grant={"group": g.name, "machine": m.name}, changed=added), 201 if added else 200


@bp.delete("/machines/<machine>/group-grants/<group>")
@admin_only
def group_grant_delete(machine: str, group: str):
    m, g = ops.get_machine(machine), ops.get_group(group)
    removed = ops.ungrant(g, m, **who())
    return jsonify(grant={"group": g.name, "machine": m.name}, changed=removed)
