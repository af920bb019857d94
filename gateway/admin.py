"""The admin console ``/admin``: users, groups, machines, grants, sessions, history, audit, tokens.

Plain HTML forms (CSRF token in each), one POST per action, then a redirect
back with a flash. Every change goes through ``machines`` (audited). All of
``/admin`` needs an admin whose password was entered in the last 30 minutes
(``auth.login_is_recent``); otherwise ``/reauth`` asks for it and comes back.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from . import machines as ops
from . import refs
from .api import (AUDIT_CSV, HISTORY_CSV, audit_csv_rows, audit_query, csv_response, enrol_command,
                  history_csv_rows, history_query, live_ids_or_none, live_session_rows, login_attack_rows,
                  record_state)
from .auth import actor, client_ip, login_is_recent, safe_next
from .extensions import db, login_manager
from .headers import external_url
from .machines import AdminError
from .models import ApiToken, AuditEvent, Group, Machine, SessionRecord, User, users_with_access
from .machine_status import statuses

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE = 100


@bp.before_request
def _guard():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403, "This page is for admins.")
    if not login_is_recent():
        if request.method == "GET":
            target = request.full_path.rstrip("?")
        else:
            flash("For your safety, confirm your password, then make the change again.", "info")
            ref = urlsplit(request.referrer or "")
            same_site = ref.netloc == request.host and ref.path.startswith("/admin")
            target = (ref.path + ("?" + ref.query if ref.query else "")) if same_site else url_for("admin.index")
        return redirect(url_for("auth.reauth", next=safe_next(target, url_for("admin.index"))))
    return None


def _who() -> dict:
    return {"actor": actor(), "ip": client_ip()}


def _done(message: str, endpoint: str, **values):
    flash(message, "ok")
    return redirect(url_for(endpoint, **values))


def _attempt(fn, endpoint: str, ok: str | None = None, **values):
    """Run an admin change; flash its outcome and go back to ``endpoint``."""
    try:
        result = fn()
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for(endpoint, **values))
    if ok:
        flash(ok.format(result=result), "ok")
    return redirect(url_for(endpoint, **values))


def _form_id(field: str) -> str:
    value = request.form.get(field, "").strip()
    if refs.record_id(value) is None:
        raise AdminError("Choose one from the list first.")
    return value


def _user(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404, "There is no such user.")


def _machine(machine_id: int) -> Machine:
    return db.session.get(Machine, machine_id) or abort(404, "There is no such PC.")


def _group(group_id: int) -> Group:
    return db.session.get(Group, group_id) or abort(404, "There is no such group.")


def _no_store(html, status: int = 200):
    resp = make_response(html, status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


# -- template helpers ------------------------------------------------------------------------------

@bp.app_template_filter("utc")
def _utc(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_filter("iso")
def _iso(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


@bp.app_template_filter("ago")
def _ago(value) -> str:
    if value is None or value == "":
        return "never"
    if isinstance(value, datetime):
        value = value.replace(tzinfo=timezone.utc).timestamp()
    return _span(max(0, time.time() - float(value))) + " ago"


@bp.app_template_filter("span")
def _span(seconds) -> str:
    seconds = int(seconds or 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


@bp.app_template_filter("size")
def _size(n) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# -- overview --------------------------------------------------------------------------------------

@bp.get("/")
def index():
    machines = list(db.session.scalars(select(Machine).order_by(Machine.name)))
    states = statuses(machines)
    return render_template(
        "admin/index.html",
        user_count=db.session.scalar(select(func.count(User.id))),
        disabled_count=db.session.scalar(select(func.count(User.id)).where(User.disabled.is_(True))),
        machines=list(zip(machines, states)),
        online=sum(1 for s in states if s.online),
        live=live_session_rows(), attacks=login_attack_rows(),
        recent=list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(10))))


# -- users -----------------------------------------------------------------------------------------

@bp.get("/users")
def users():
    rows = list(db.session.scalars(select(User).order_by(User.name)))
    return render_template("admin/users.html", users=rows)


@bp.post("/users")
def user_create():
    form = request.form
    try:
        user = ops.add_user(form.get("name", ""), form.get("password", ""), admin=form.get("admin") == "1",
                            **_who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.users"))
    return _done(f"User {user.name} created.", "admin.user", user_id=user.id)


@bp.get("/users/<int:user_id>")
def user(user_id: int):
    u = _user(user_id)
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
    u = _user(user_id)
    if request.form.get("password", "") != request.form.get("confirm", ""):
        flash("The two passwords differ.", "error")
        return redirect(url_for("admin.user", user_id=u.id))
    return _attempt(lambda: ops.set_password(u, request.form.get("password", ""), **_who()),
                    "admin.user", f"Password of {u.name} changed.", user_id=u.id)


@bp.post("/users/<int:user_id>/logout")
def user_logout(user_id: int):
    u = _user(user_id)
    return _attempt(lambda: ops.end_logins(u, "An admin logged you out", action="user_logout", **_who()),
                    "admin.user", f"{u.name} is logged out everywhere; their live sessions are ending.",
                    user_id=u.id)


@bp.post("/users/<int:user_id>/disable")
def user_disable(user_id: int):
    u = _user(user_id)
    return _attempt(lambda: ops.set_disabled(u, True, **_who()), "admin.user",
                    f"{u.name} is disabled; their live sessions are ending.", user_id=u.id)


@bp.post("/users/<int:user_id>/enable")
def user_enable(user_id: int):
    u = _user(user_id)
    return _attempt(lambda: ops.set_disabled(u, False, **_who()), "admin.user", f"{u.name} is enabled.",
                    user_id=u.id)


@bp.post("/users/<int:user_id>/admin")
def user_admin(user_id: int):
    u = _user(user_id)
    make = request.form.get("admin") == "1"
    return _attempt(lambda: ops.set_admin(u, make, **_who()), "admin.user",
                    f"{u.name} is {'now an admin' if make else 'no longer an admin'}.", user_id=u.id)


@bp.post("/users/<int:user_id>/delete")
def user_delete(user_id: int):
    u = _user(user_id)
    if request.form.get("confirm") != "1":
        flash(f"Tick the box to confirm that {u.name} should be deleted.", "error")
        return redirect(url_for("admin.user", user_id=u.id))
    name = u.name
    try:
        ops.delete_user(u, **_who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.user", user_id=user_id))
    return _done(f"User {name} deleted; their history and audit entries are kept.", "admin.users")


@bp.post("/users/<int:user_id>/grants")
def user_grant(user_id: int):
    u = _user(user_id)
    return _attempt(lambda: ops.grant(u, ops.get_machine(_form_id("machine_id")), **_who()), "admin.user",
                    f"{u.name} may now open the PC.", user_id=u.id)


@bp.post("/users/<int:user_id>/grants/<int:machine_id>/delete")
def user_ungrant(user_id: int, machine_id: int):
    u, m = _user(user_id), _machine(machine_id)
    return _attempt(lambda: ops.ungrant(u, m, **_who()), "admin.user",
                    f"{u.name} may no longer open {m.name}.", user_id=u.id)


@bp.post("/users/<int:user_id>/groups")
def user_group_add(user_id: int):
    u = _user(user_id)
    return _attempt(lambda: ops.add_member(ops.get_group(_form_id("group_id")), u, **_who()), "admin.user",
                    f"{u.name} added to the group.", user_id=u.id)


@bp.post("/users/<int:user_id>/groups/<int:group_id>/delete")
def user_group_remove(user_id: int, group_id: int):
    u, g = _user(user_id), _group(group_id)
    return _attempt(lambda: ops.remove_member(g, u, **_who()), "admin.user",
                    f"{u.name} removed from {g.name}.", user_id=u.id)


# -- groups ----------------------------------------------------------------------------------------

@bp.get("/groups")
def groups():
    rows = list(db.session.scalars(select(Group).order_by(Group.name)))
    return render_template("admin/groups.html", groups=rows)


@bp.post("/groups")
def group_create():
    try:
        g = ops.add_group(request.form.get("name", ""), **_who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.groups"))
    return _done(f"Group {g.name} created.", "admin.group", group_id=g.id)


@bp.get("/groups/<int:group_id>")
def group(group_id: int):
    g = _group(group_id)
    members = {u.id for u in g.members}
    granted = {gg.machine_id for gg in g.grants}
    return render_template(
        "admin/group.html", g=g, grants=sorted(g.grants, key=lambda gg: gg.machine.name),
        addable_users=[u for u in db.session.scalars(select(User).order_by(User.name)) if u.id not in members],
        addable_machines=[m for m in db.session.scalars(select(Machine).order_by(Machine.name))
                          if m.id not in granted])


@bp.post("/groups/<int:group_id>/rename")
def group_rename(group_id: int):
    g = _group(group_id)
    return _attempt(lambda: ops.rename_group(g, request.form.get("name", ""), **_who()), "admin.group",
                    "Group renamed.", group_id=g.id)


@bp.post("/groups/<int:group_id>/delete")
def group_delete(group_id: int):
    g = _group(group_id)
    if request.form.get("confirm") != "1":
        flash(f"Tick the box to confirm that group {g.name} should be deleted.", "error")
        return redirect(url_for("admin.group", group_id=g.id))
    name = g.name
    ops.delete_group(g, **_who())
    return _done(f"Group {name} deleted.", "admin.groups")


@bp.post("/groups/<int:group_id>/members")
def group_member_add(group_id: int):
    g = _group(group_id)
    return _attempt(lambda: ops.add_member(g, ops.get_user(_form_id("user_id")), **_who()), "admin.group",
                    "Member added.", group_id=g.id)


@bp.post("/groups/<int:group_id>/members/<int:user_id>/delete")
def group_member_remove(group_id: int, user_id: int):
    g, u = _group(group_id), _user(user_id)
    return _attempt(lambda: ops.remove_member(g, u, **_who()), "admin.group",
                    f"{u.name} removed from the group.", group_id=g.id)


@bp.post("/groups/<int:group_id>/grants")
def group_grant(group_id: int):
    g = _group(group_id)
    return _attempt(lambda: ops.grant_group(g, ops.get_machine(_form_id("machine_id")), **_who()),
                    "admin.group", "The group's members may now open the PC.", group_id=g.id)


@bp.post("/groups/<int:group_id>/grants/<int:machine_id>/delete")
def group_ungrant(group_id: int, machine_id: int):
    g, m = _group(group_id), _machine(machine_id)
    return _attempt(lambda: ops.ungrant_group(g, m, **_who()), "admin.group",
                    f"The group may no longer open {m.name}.", group_id=g.id)


# -- machines --------------------------------------------------------------------------------------

@bp.get("/machines")
def machines():
    rows = list(db.session.scalars(select(Machine).order_by(Machine.name)))
    return render_template("admin/machines.html", machines=list(zip(rows, statuses(rows))))


def _enrol_page(machine: Machine, code: str, fresh: bool):
    html = render_template("admin/enrol.html", m=machine, code=code, fresh=fresh,
                           expires_at=ops.pending_code_expiry(machine), command=enrol_command(code))
    return _no_store(html, 201 if fresh else 200)


@bp.post("/machines")
def machine_create():
    external_url(current_app.config["PONTE"])  # a foreign Host: 400 before the PC is made
    try:
        machine, code = ops.add_machine(request.form.get("name", ""), **_who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.machines"))
    return _enrol_page(machine, code, fresh=True)


@bp.get("/machines/<int:machine_id>")
def machine(machine_id: int):
    m = _machine(machine_id)
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
        live=[s for s in live_session_rows() if s["machine_id"] == m.id], history=history)


@bp.post("/machines/<int:machine_id>/rename")
def machine_rename(machine_id: int):
    m = _machine(machine_id)
    return _attempt(lambda: ops.rename_machine(m, request.form.get("name", ""), **_who()), "admin.machine",
                    "PC renamed.", machine_id=m.id)


@bp.post("/machines/<int:machine_id>/code")
def machine_code(machine_id: int):
    m = _machine(machine_id)
    external_url(current_app.config["PONTE"])  # a foreign Host: 400 before the old code dies
    return _enrol_page(m, ops.new_enrolment(m, **_who()), fresh=True)


@bp.post("/machines/<int:machine_id>/revoke")
def machine_revoke(machine_id: int):
    m = _machine(machine_id)
    if request.form.get("confirm") != "1":
        flash(f"Tick the box to confirm that {m.name} should be revoked.", "error")
        return redirect(url_for("admin.machine", machine_id=m.id))
    return _attempt(lambda: ops.revoke_machine(m, **_who()), "admin.machine",
                    f"{m.name} revoked: its agent is disconnected and its sessions ended. "
                    "A new enrolment code lets it back in.", machine_id=m.id)


@bp.post("/machines/<int:machine_id>/vnc-retry")
def machine_vnc_retry(machine_id: int):
    m = _machine(machine_id)
    return _attempt(lambda: ops.retry_vnc(m, **_who()), "admin.machine",
                    f"{m.name}'s agent was asked to log in to its VNC server again.", machine_id=m.id)


@bp.post("/machines/<int:machine_id>/delete")
def machine_delete(machine_id: int):
    m = _machine(machine_id)
    if request.form.get("confirm") != "1":
        flash(f"Tick the box to confirm that {m.name} should be deleted.", "error")
        return redirect(url_for("admin.machine", machine_id=m.id))
    name = m.name
    ops.delete_machine(m, **_who())
    return _done(f"PC {name} deleted; its history is kept.", "admin.machines")


@bp.post("/machines/<int:machine_id>/grants")
def machine_grant(machine_id: int):
    m = _machine(machine_id)
    return _attempt(lambda: ops.grant(ops.get_user(_form_id("user_id")), m, **_who()), "admin.machine",
                    "Access granted.", machine_id=m.id)


@bp.post("/machines/<int:machine_id>/grants/<int:user_id>/delete")
def machine_ungrant(machine_id: int, user_id: int):
    m, u = _machine(machine_id), _user(user_id)
    return _attempt(lambda: ops.ungrant(u, m, **_who()), "admin.machine",
                    f"{u.name} may no longer open this PC.", machine_id=m.id)


@bp.post("/machines/<int:machine_id>/group-grants")
def machine_group_grant(machine_id: int):
    m = _machine(machine_id)
    return _attempt(lambda: ops.grant_group(ops.get_group(_form_id("group_id")), m, **_who()),
                    "admin.machine", "Access granted to the group.", machine_id=m.id)


@bp.post("/machines/<int:machine_id>/group-grants/<int:group_id>/delete")
def machine_group_ungrant(machine_id: int, group_id: int):
    m, g = _machine(machine_id), _group(group_id)
    return _attempt(lambda: ops.ungrant_group(g, m, **_who()), "admin.machine",
                    f"Group {g.name} may no longer open this PC.", machine_id=m.id)


# -- live sessions ---------------------------------------------------------------------------------

@bp.get("/sessions")
def sessions():
    return render_template("admin/sessions.html", live=live_session_rows())


@bp.post("/sessions/<session_id>/end")
def session_end(session_id: str):
    reason = request.form.get("reason", "").strip() or "Ended by an admin"
    if not ops.end_session(session_id, reason, **_who()):
        flash("That session has ended already.", "info")
    else:
        flash("The session is ending; the viewer shows your reason.", "ok")
    back = request.form.get("back", "")
    return redirect(safe_next(back, url_for("admin.sessions")) if back.startswith("/admin") else
                    url_for("admin.sessions"))


# -- history and audit ----------------------------------------------------------------------------

def _offset() -> int:
    return refs.record_id(request.args.get("offset", "0")) or 0


def _filters(keys) -> dict:
    return {k: request.args.get(k, "").strip() for k in keys if request.args.get(k, "").strip()}


def _distinct(column) -> list[str]:
    return [v for v in db.session.scalars(select(column).distinct().order_by(column)) if v]


@bp.get("/history")
def history():
    filters = _filters(("user", "machine", "since", "until"))
    offset = _offset()
    try:
        rows = list(db.session.scalars(history_query(filters).limit(PAGE + 1).offset(offset)))
    except AdminError as exc:
        flash(str(exc), "error")
        filters, rows = {}, []
    live_ids = live_ids_or_none()
    return render_template("admin/history.html", rows=rows[:PAGE], more=len(rows) > PAGE, offset=offset,
                           page=PAGE, filters=filters, user_names=_distinct(SessionRecord.user_name),
                           states={r.id: record_state(r, live_ids) for r in rows[:PAGE]},
                           machine_names=_distinct(SessionRecord.machine_name))


@bp.get("/history.csv")
def history_csv():
    try:
        stmt = history_query(_filters(("user", "machine", "since", "until")))
    except AdminError as exc:
        abort(400, str(exc))
    return csv_response("ponte-history.csv", HISTORY_CSV, history_csv_rows(db.session.scalars(stmt)))


@bp.get("/audit")
def audit():
    filters = _filters(("actor", "action", "target", "ip", "since", "until"))
    offset = _offset()
    try:
        rows = list(db.session.scalars(audit_query(filters).limit(PAGE + 1).offset(offset)))
    except AdminError as exc:
        flash(str(exc), "error")
        filters, rows = {}, []
    return render_template("admin/audit.html", rows=rows[:PAGE], more=len(rows) > PAGE, offset=offset,
                           page=PAGE, filters=filters, actors=_distinct(AuditEvent.actor),
                           actions=_distinct(AuditEvent.action))


@bp.get("/audit.csv")
def audit_csv():
    try:
        stmt = audit_query(_filters(("actor", "action", "target", "ip", "since", "until")))
    except AdminError as exc:
        abort(400, str(exc))
    return csv_response("ponte-audit.csv", AUDIT_CSV, audit_csv_rows(db.session.scalars(stmt)))


# -- API tokens ------------------------------------------------------------------------------------

@bp.get("/tokens")
def tokens():
    rows = list(db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))
    users_ = list(db.session.scalars(select(User).where(User.disabled.is_(False)).order_by(User.name)))
    return render_template("admin/tokens.html", tokens=rows, users=users_)


@bp.post("/tokens")
def token_create():
    form = request.form
    days = form.get("days", "").strip()
    try:
        owner = ops.get_user(_form_id("user_id")) if form.get("user_id") else current_user._get_current_object()
        if days and not days.isdigit():
            raise AdminError("The lifetime must be a whole number of days.")
        row, secret = ops.create_token(owner, form.get("name", ""), days=int(days) if days else None, **_who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.tokens"))
    return _no_store(render_template("admin/token_created.html", t=row, secret=secret), 201)


@bp.post("/tokens/<int:token_id>/revoke")
def token_revoke(token_id: int):
    row = db.session.get(ApiToken, token_id) or abort(404, "There is no such token.")
    return _attempt(lambda: ops.revoke_token(row, **_who()), "admin.tokens", "Token revoked.")
