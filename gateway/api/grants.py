"""Who may open a machine (admins): its grants; grant and take back, to a user or to a group.

PUT answers 201 when it made a grant and 200 when there was one already.
"""

from __future__ import annotations

from flask import jsonify

from .. import ops
from ..models import Group, Machine, User
from . import admin_only, bp
from .inputs import who
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
