"""Groups: list and create; a group's page (rename, delete, members, the PCs it may open)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from .. import ops
from ..extensions import db
from ..models import Group, Machine, User
from ..ops import AdminError
from . import bp
from .helpers import attempt, done, form_id, group_or_404, machine_or_404, unconfirmed, user_or_404, who


@bp.get("/groups")
def groups():
    rows = list(db.session.scalars(select(Group).order_by(Group.name)))
    return render_template("admin/groups.html", groups=rows)


@bp.post("/groups")
def group_create():
    try:
        g = ops.add_group(request.form.get("name", ""), **who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.groups"))
    return done(_("Group %(name)s created.", name=g.name), "admin.group", group_id=g.id)


@bp.get("/groups/<int:group_id>")
def group(group_id: int):
    g = group_or_404(group_id)
    members = {u.id for u in g.members}
    granted = {gg.machine_id for gg in g.grants}
    return render_template(
        "admin/group.html", g=g, grants=sorted(g.grants, key=lambda gg: gg.machine.name),
        addable_users=[u for u in db.session.scalars(select(User).order_by(User.name)) if u.id not in members],
        addable_machines=[m for m in db.session.scalars(select(Machine).order_by(Machine.name))
                          if m.id not in granted])


@bp.post("/groups/<int:group_id>/rename")
def group_rename(group_id: int):
    g = group_or_404(group_id)
    return attempt(lambda: ops.rename(g, request.form.get("name", ""), **who()), "admin.group",
                    _("Group renamed."), group_id=g.id)


@bp.post("/groups/<int:group_id>/delete")
def group_delete(group_id: int):
    g = group_or_404(group_id)
    back = unconfirmed(_("Tick the box to confirm that group %(name)s should be deleted.", name=g.name),
                       "admin.group", group_id=g.id)
    if back is not None:
        return back
    name = g.name
    ops.delete_group(g, **who())
    return done(_("Group %(name)s deleted.", name=name), "admin.groups")


@bp.post("/groups/<int:group_id>/members")
def group_member_add(group_id: int):
    g = group_or_404(group_id)
    return attempt(lambda: ops.add_member(g, ops.get_user(form_id("user_id")), **who()), "admin.group",
                    _("Member added."), group_id=g.id)


@bp.post("/groups/<int:group_id>/members/<int:user_id>/delete")
def group_member_remove(group_id: int, user_id: int):
    g, u = group_or_404(group_id), user_or_404(user_id)
    return attempt(lambda: ops.remove_member(g, u, **who()), "admin.group",
                    _("%(name)s removed from the group.", name=u.name), group_id=g.id)


@bp.post("/groups/<int:group_id>/grants")
def group_grant(group_id: int):
    g = group_or_404(group_id)
    return attempt(lambda: ops.grant(g, ops.get_machine(form_id("machine_id")), **who()),
                    "admin.group", _("The group's members may now open the PC."), group_id=g.id)


@bp.post("/groups/<int:group_id>/grants/<int:machine_id>/delete")
def group_ungrant(group_id: int, machine_id: int):
    g, m = group_or_404(group_id), machine_or_404(machine_id)
    return attempt(lambda: ops.ungrant(g, m, **who()), "admin.group",
                    _("The group may no longer open %(name)s.", name=m.name), group_id=g.id)
