"""Groups (admins): list, create, read, rename, delete; add and remove members."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from .. import ops
from ..extensions import db
from ..models import Group
from ..reports import iso
from . import admin_only, bp
from .inputs import body, string, who


def group_json(g: Group) -> dict:
    return {"id": g.id, "name": g.name, "created_at": iso(g.created_at),
            "members": [{"id": u.id, "name": u.name} for u in g.members],
            "machines": [{"id": gg.machine.id, "name": gg.machine.name}
                         for gg in sorted(g.grants, key=lambda gg: gg.machine.name)]}


@bp.get("/groups")
@admin_only
def groups():
    return jsonify(groups=[group_json(g) for g in db.session.scalars(select(Group).order_by(Group.name))])


@bp.post("/groups")
@admin_only
def group_create():
    group = ops.add_group(string(body(), "name"), **who())
    return jsonify(group=group_json(group)), 201


@bp.get("/groups/<group>")
@admin_only
def group_get(group: str):
    return jsonify(group=group_json(ops.get_group(group)))


@bp.patch("/groups/<group>")
@admin_only
def group_update(group: str):
    found = ops.get_group(group)
    ops.rename(found, string(body(), "name"), **who())
    return jsonify(group=group_json(found))


@bp.delete("/groups/<group>")
@admin_only
def group_delete(group: str):
    found = ops.get_group(group)
    name = found.name
    ops.delete_group(found, **who())
    return jsonify(deleted={"group": name})


@bp.put("/groups/<group>/members/<user>")
@admin_only
def group_member_add(group: str, user: str):
    g, u = ops.get_group(group), ops.get_user(user)
    added = ops.add_member(g, u, **who())
    return jsonify(group=group_json(g), changed=added)


@bp.delete("/groups/<group>/members/<user>")
@admin_only
def group_member_remove(group: str, user: str):
    g, u = ops.get_group(group), ops.get_user(user)
    removed = ops.remove_member(g, u, **who())
    return jsonify(group=group_json(g), changed=removed)
