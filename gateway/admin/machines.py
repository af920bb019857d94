"""Office PCs: list and create (the enrolment page shows the one-time code); a PC's page
(rename, new code, revoke, VNC retry, delete, who may open it)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from .. import ops, reports
from ..extensions import db
from ..headers import external_url
from ..models import Group, Machine, SessionRecord, User, stored_interfaces, users_with_access
from ..ops import AdminError, shares
from ..machine_status import statuses
from ..wake import wakers_of
from . import bp
from .listing import Listing
from .helpers import attempt, done, form_id, group_or_404, machine_or_404, no_store, unconfirmed, user_or_404, who


#: The PCs list's sort keys (``?sort=``); the live state is not in SQL, so not a sort key.
MACHINE_SORTS = {"name": Machine.name, "last_seen": Machine.last_seen_at, "created": Machine.created_at}


@bp.get("/machines")
def machines():
    listing = Listing.from_request("admin.machines", MACHINE_SORTS, "name").run(
        db.session, select(Machine), [Machine.name, Machine.agent_hostname, Machine.agent_os])
    rows = listing.rows
    return render_template("admin/machines.html", machines=list(zip(rows, statuses(rows))), listing=listing,
                           sharing_allowed=shares.sharing_allowed(),
                           all_users=list(db.session.scalars(select(User).order_by(User.name))),
                           all_groups=list(db.session.scalars(select(Group).order_by(Group.name))))


def _enrol_page(machine: Machine, code: str, fresh: bool):
    html = render_template("admin/enrol.html", m=machine, code=code, fresh=fresh,
                           expires_at=ops.pending_code_expiry(machine), command=ops.enrol_command(code))
    return no_store(html, 201 if fresh else 200)


@bp.post("/machines")
def machine_create():
    external_url(current_app.config["PONTE"])  # a foreign Host: 400 before the PC is made
    try:
        machine, code = ops.add_machine(request.form.get("name", ""), **who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.machines"))
    return _enrol_page(machine, code, fresh=True)


@bp.get("/machines/<int:machine_id>")
def machine(machine_id: int):
    m = machine_or_404(machine_id)
    granted = {g.user_id for g in m.grants}
    group_granted = {gg.group_id for gg in m.group_grants}
    history = list(db.session.scalars(select(SessionRecord).where(SessionRecord.machine_id == m.id)
                                      .order_by(SessionRecord.started_at.desc()).limit(10)))
    return render_template(
        "admin/machine.html", m=m, status=statuses([m])[0], code_expires=ops.pending_code_expiry(m),
        grants=sorted(m.grants, key=lambda g: g.user.name),
        group_grants=sorted(m.group_grants, key=lambda gg: gg.group.name),
        with_access=users_with_access(m),
        addable_users=[u for u in db.session.scalars(select(User).order_by(User.name)) if u.id not in granted],
        addable_groups=[g for g in db.session.scalars(select(Group).order_by(Group.name))
                        if g.id not in group_granted],
        live=[s for s in reports.live_session_rows() if s["machine_id"] == m.id], history=history,
        interfaces=stored_interfaces(m.agent_interfaces), wakers=wakers_of(m),
        share_links=shares.links_of(m), share_state=shares.state, share_durations=shares.DURATIONS,
        share_max_uses=shares.MAX_USES)


@bp.post("/machines/<int:machine_id>/rename")
def machine_rename(machine_id: int):
    m = machine_or_404(machine_id)
    return attempt(lambda: ops.rename(m, request.form.get("name", ""), **who()), "admin.machine",
                    _("PC renamed."), machine_id=m.id)


@bp.post("/machines/<int:machine_id>/code")
def machine_code(machine_id: int):
    m = machine_or_404(machine_id)
    external_url(current_app.config["PONTE"])  # a foreign Host: 400 before the old code dies
    return _enrol_page(m, ops.new_enrolment(m, **who()), fresh=True)


@bp.post("/machines/<int:machine_id>/revoke")
def machine_revoke(machine_id: int):
    m = machine_or_404(machine_id)
    back = unconfirmed(_("Tick the box to confirm that %(name)s should be revoked.", name=m.name),
                       "admin.machine", machine_id=m.id)
    if back is not None:
        return back
    return attempt(lambda: ops.revoke_machine(m, **who()), "admin.machine",
                    _("%(name)s revoked: its agent is disconnected and its sessions ended. "
                      "A new enrolment code lets it back in.", name=m.name), machine_id=m.id)


@bp.post("/machines/<int:machine_id>/vnc-retry")
def machine_vnc_retry(machine_id: int):
    m = machine_or_404(machine_id)
    return attempt(lambda: ops.retry_vnc(m, **who()), "admin.machine",
                    _("%(name)s's agent was asked to log in to its VNC server again.", name=m.name), machine_id=m.id)


@bp.post("/machines/<int:machine_id>/delete")
def machine_delete(machine_id: int):
    m = machine_or_404(machine_id)
    back = unconfirmed(_("Tick the box to confirm that %(name)s should be deleted.", name=m.name),
                       "admin.machine", machine_id=m.id)
    if back is not None:
        return back
    name = m.name
    ops.delete_machine(m, **who())
    return done(_("PC %(name)s deleted; its history is kept.", name=name), "admin.machines")


@bp.post("/machines/<int:machine_id>/grants")
def machine_grant(machine_id: int):
    m = machine_or_404(machine_id)
    return attempt(lambda: ops.grant(ops.get_user(form_id("user_id")), m, **who()), "admin.machine",
                    _("Access granted."), machine_id=m.id)


@bp.post("/machines/<int:machine_id>/grants/<int:user_id>/delete")
def machine_ungrant(machine_id: int, user_id: int):
    m, u = machine_or_404(machine_id), user_or_404(user_id)
    return attempt(lambda: ops.ungrant(u, m, **who()), "admin.machine",
                    _("%(name)s may no longer open this PC.", name=u.name), machine_id=m.id)


@bp.post("/machines/<int:machine_id>/group-grants")
def machine_group_grant(machine_id: int):
    m = machine_or_404(machine_id)
    return attempt(lambda: ops.grant(ops.get_group(form_id("group_id")), m, **who()),
                    "admin.machine", _("Access granted to the group."), machine_id=m.id)


@bp.post("/machines/<int:machine_id>/group-grants/<int:group_id>/delete")
def machine_group_ungrant(machine_id: int, group_id: int):
    m, g = machine_or_404(machine_id), group_or_404(group_id)
    return attempt(lambda: ops.ungrant(g, m, **who()), "admin.machine",
                    _("Group %(name)s may no longer open this PC.", name=g.name), machine_id=m.id)
