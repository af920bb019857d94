"""People: list and create; a person's page (password, logout everywhere, disable, admin, delete),
their grants and groups."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from .. import ops
from ..extensions import db
from ..models import Group, Machine, SessionRecord, User
from ..ops import AdminError
from . import bp
from .listing import Listing
from .helpers import attempt, done, form_id, group_or_404, machine_or_404, unconfirmed, user_or_404, who


#: The users list's sort keys (``?sort=``).
USER_SORTS = {"name": User.name, "role": User.is_admin, "status": User.disabled, "created": User.created_at}


@bp.get("/users")
def users():
    listing = Listing.from_request("admin.users", USER_SORTS, "name").run(
        db.session, select(User), [User.name, User.display_name, User.email])
    return render_template("admin/users.html", users=listing.rows, listing=listing,
                           all_machines=list(db.session.scalars(select(Machine).order_by(Machine.name))),
                           all_groups=list(db.session.scalars(select(Group).order_by(Group.name))))


@bp.post("/users")
def user_create():
    form = request.form
    try:
        user = ops.add_user(form.get("name", ""), form.get("password", ""), admin=form.get("admin") == "1",
                            **who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.users"))
    return done(_("User %(name)s created.", name=user.name), "admin.user", user_id=user.id)


@bp.get("/users/<int:user_id>")
def user(user_id: int):
    u = user_or_404(user_id)
    granted = {g.machine_id for g in u.grants}
    member_of = {g.id for g in u.groups}
    all_machines = list(db.session.scalars(select(Machine).order_by(Machine.name)))
    all_groups = list(db.session.scalars(select(Group).order_by(Group.name)))
    history = list(db.session.scalars(select(SessionRecord).where(SessionRecord.user_id == u.id)
                                      .order_by(SessionRecord.started_at.desc()).limit(10)))
    return render_template(
        "admin/user.html", u=u, grants=sorted(u.grants, key=lambda g: g.machine.name),
        addable_machines=[m for m in all_machines if m.id not in granted],
        addable_groups=[g for g in all_groups if g.id not in member_of],
        via_groups=[(g, gg.machine) for g in u.groups for gg in g.grants],
        tokens=[t for t in u.tokens], history=history)


@bp.post("/users/<int:user_id>/password")
def user_password(user_id: int):
    u = user_or_404(user_id)
    if request.form.get("password", "") != request.form.get("confirm", ""):
        flash(_("The two passwords differ."), "error")
        return redirect(url_for("admin.user", user_id=u.id))
    return attempt(lambda: ops.set_password(u, request.form.get("password", ""), **who()),
                    "admin.user", _("Password of %(name)s changed.", name=u.name), user_id=u.id)


@bp.post("/users/<int:user_id>/logout")
def user_logout(user_id: int):
    u = user_or_404(user_id)
    return attempt(lambda: ops.end_logins(u, "An admin logged you out", action="user_logout", **who()),
                    "admin.user",
                    _("%(name)s is logged out everywhere; their live sessions are ending.", name=u.name),
                    user_id=u.id)


@bp.post("/users/<int:user_id>/disable")
def user_disable(user_id: int):
    u = user_or_404(user_id)
    return attempt(lambda: ops.set_disabled(u, True, **who()), "admin.user",
                    _("%(name)s is disabled; their live sessions are ending.", name=u.name), user_id=u.id)


@bp.post("/users/<int:user_id>/enable")
def user_enable(user_id: int):
    u = user_or_404(user_id)
    return attempt(lambda: ops.set_disabled(u, False, **who()), "admin.user",
                    _("%(name)s is enabled.", name=u.name),
                    user_id=u.id)


@bp.post("/users/<int:user_id>/admin")
def user_admin(user_id: int):
    u = user_or_404(user_id)
    make = request.form.get("admin") == "1"
    return attempt(lambda: ops.set_admin(u, make, **who()), "admin.user",
                    (_("%(name)s is now an admin.", name=u.name) if make
                     else _("%(name)s is no longer an admin.", name=u.name)), user_id=u.id)


@bp.post("/users/<int:user_id>/delete")
def user_delete(user_id: int):
    u = user_or_404(user_id)
    back = unconfirmed(_("Tick the box to confirm that %(name)s should be deleted.", name=u.name),
                       "admin.user", user_id=u.id)
    if back is not None:
        return back
    name = u.name
    try:
        ops.delete_user(u, **who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.user", user_id=user_id))
    return done(_("User %(name)s deleted; their history and audit entries are kept.", name=name), "admin.users")


@bp.post("/users/<int:user_id>/grants")
def user_grant(user_id: int):
    u = user_or_404(user_id)
    return attempt(lambda: ops.grant(u, ops.get_machine(form_id("machine_id")), **who()), "admin.user",
                    _("%(name)s may now open the PC.", name=u.name), user_id=u.id)


@bp.post("/users/<int:user_id>/grants/<int:machine_id>/delete")
def user_ungrant(user_id: int, machine_id: int):
    u, m = user_or_404(user_id), machine_or_404(machine_id)
    return attempt(lambda: ops.ungrant(u, m, **who()), "admin.user",
                    _("%(person)s may no longer open %(machine)s.", person=u.name, machine=m.name), user_id=u.id)


@bp.post("/users/<int:user_id>/groups")
def user_group_add(user_id: int):
    u = user_or_404(user_id)
    return attempt(lambda: ops.add_member(ops.get_group(form_id("group_id")), u, **who()), "admin.user",
                    _("%(name)s added to the group.", name=u.name), user_id=u.id)


@bp.post("/users/<int:user_id>/groups/<int:group_id>/delete")
def user_group_remove(user_id: int, group_id: int):
    u, g = user_or_404(user_id), group_or_404(group_id)
    return attempt(lambda: ops.remove_member(g, u, **who()), "admin.user",
                    _("%(person)s removed from %(group)s.", person=u.name, group=g.name), user_id=u.id)
