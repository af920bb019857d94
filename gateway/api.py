"""JSON API ``/api/v1`` (DESIGN.md §4). Errors: ``{"error": {"code", "message"}}``.

Auth: the login cookie (mutating calls then need ``X-CSRFToken``) or a bearer
API token. Admin routes need ``is_admin``; by cookie they also need a recent
login (``auth.login_is_recent``), reads included, as the admin pages do.
Object references (``<user>``, ``<machine>``, ``<group>``) accept an id or a name.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from agents.protocol.text import clean

from . import ops, refs, reports, sessions
from .auth import actor, client_ip, ip_key, login_is_recent, throttle, via_token
from .extensions import csrf, db, limiter
from .headers import external_url, websocket_url
from .ops import AdminError, Conflict, EnrolmentError, NotFound, enrol_agent
from .reports import duration, iso
from .models import (ApiToken, AuditEvent, Group, Machine, SessionRecord, User, granted_machines,
                     machine_for_user, users_with_access)
from .status import statuses

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # cookie-authenticated calls are checked in ``_authenticate``

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: How ``ws.view`` words an agent that attached but could not serve the session.
PAGE_MAX = 1000
REAUTH_MESSAGE = ("The admin API needs a login younger than 30 minutes: confirm your password at /reauth "
                  "(or use an API token).")


def error(status: int, code: str, message: str):
    return jsonify(error={"code": code, "message": message}), status


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return error(exc.status, exc.code, exc.message)


@bp.errorhandler(AdminError)
def _admin_error(exc: AdminError):
    if isinstance(exc, NotFound):
        return error(404, "not_found", str(exc))
    if isinstance(exc, Conflict):
        return error(409, "conflict", str(exc))
    return error(400, "invalid", str(exc))


@bp.before_request
def _authenticate():
    if request.endpoint == "api.enroll":
        return None
    if not current_user.is_authenticated:
        return error(401, "unauthorized", "Log in or send a valid API token.")
    if request.method not in SAFE_METHODS and not via_token():
        csrf.protect()  # a logged-in browser must prove the request came from our page
    return None


def admin_only(fn):
    """Admins only; by cookie, a recent login (reads too: audit, users, tokens are as sensitive
    as changes). Marks the view for the route table."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            raise ApiError(403, "forbidden", "Admins only.")
        if not login_is_recent():
            raise ApiError(403, "reauth_required", REAUTH_MESSAGE)
        return fn(*args, **kwargs)
    wrapper.ponte_access = "admin"
    return wrapper


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "Send a JSON object.")
    return body


def _str(body: dict, key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"{key!r} must be a string.")
    return value


def _bool(body: dict, key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ApiError(400, "bad_request", f"{key!r} must be true or false.")
    return value


def _who() -> dict:
    return {"actor": actor(), "ip": client_ip()}


# -- serialisation -------------------------------------------------------------------------------

def user_json(u: User, attacked: set[str] | None = None) -> dict:
    """``attacked``: names under login attack, when the caller looked them up for many users."""
    attacked = throttle().accounts_under_attack([u.name]) if attacked is None else attacked
    return {"id": u.id, "name": u.name, "admin": u.is_admin, "disabled": u.disabled,
            "under_attack": u.name in attacked,
            "created_at": iso(u.created_at), "groups": [{"id": g.id, "name": g.name} for g in u.groups],
            "machines": [{"id": gr.machine.id, "name": gr.machine.name}
                         for gr in sorted(u.grants, key=lambda gr: gr.machine.name)]}


def group_json(g: Group) -> dict:
    return {"id": g.id, "name": g.name, "created_at": iso(g.created_at),
            "members": [{"id": u.id, "name": u.name} for u in g.members],
            "machines": [{"id": gg.machine.id, "name": gg.machine.name}
                         for gg in sorted(g.grants, key=lambda gg: gg.machine.name)]}


def machine_json(m: Machine, status=None) -> dict:
    status = status or statuses([m])[0]
    return {"id": m.id, "name": m.name, "created_at": iso(m.created_at), "enrolled_at": iso(m.enrolled_at),
            "revoked_at": iso(m.revoked_at), "enrolment_code_expires_at": iso(ops.pending_code_expiry(m)),
            "status": status.as_dict(),
            "grants": {"users": [{"id": gr.user.id, "name": gr.user.name}
                                 for gr in sorted(m.grants, key=lambda gr: gr.user.name)],
                       "groups": [{"id": gg.group.id, "name": gg.group.name}
                                  for gg in sorted(m.group_grants, key=lambda gg: gg.group.name)]},
            "users_with_access": [{"id": u.id, "name": u.name} for u in users_with_access(m)]}


def token_json(t: ApiToken) -> dict:
    return {"id": t.id, "name": t.name, "prefix": t.prefix, "user": {"id": t.user.id, "name": t.user.name},
            "created_at": iso(t.created_at), "created_by": t.created_by, "expires_at": iso(t.expires_at),
            "last_used_at": iso(t.last_used_at), "revoked_at": iso(t.revoked_at), "usable": t.usable}


def history_json(r: SessionRecord, live_ids: set | None = None) -> dict:
    return {"id": r.id, "state": reports.record_state(r, live_ids),
            "user": r.user_name, "user_id": r.user_id, "machine": r.machine_name,
            "machine_id": r.machine_id, "client_ip": r.client_ip, "started_at": iso(r.started_at),
            "ended_at": iso(r.ended_at), "duration_s": duration(r),
            "bytes_to_viewer": r.bytes_to_viewer, "bytes_from_viewer": r.bytes_from_viewer,
            "end_reason": r.end_reason, "ended_by": r.ended_by}


def audit_json(r: AuditEvent) -> dict:
    return {"id": r.id, "at": iso(r.at), "actor": r.actor, "ip": r.ip, "action": r.action,
            "target": r.target, "detail": r.detail}


# -- the employee's own ----------------------------------------------------------------------------

@bp.get("/me")
def me():
    return jsonify(user={"id": current_user.id, "name": current_user.name, "admin": current_user.is_admin})


@bp.get("/me/machines")
def my_machines():
    return jsonify(machines=[s.public_dict() for s in statuses(granted_machines(current_user))])


@bp.post("/machines/<machine>/sessions")
@limiter.limit("30 per minute", key_func=ip_key)
def open_session(machine: str):
    found = machine_for_user(current_user, machine)
    if found is None:
        return error(403, "forbidden", "You may not open this PC.")
    if found.revoked_at is not None:
        return error(409, "unavailable", "This PC's access was revoked by an admin.")
    # No ticket in the URL (proxy logs): the client offers it as the subprotocol ``ponte.ticket.<ticket>``.
    ws_url = websocket_url(current_app.config["PONTE"], "/ws/view")  # 400 on a foreign Host
    issued = sessions.issue(current_user, found, request.remote_addr or "")
    return jsonify(session=issued.session, ticket=issued.ticket, ws_url=ws_url,
                   expires_in=issued.expires_in, machine={"id": found.id, "name": found.name}), 201


def _may_see_session(user_id) -> bool:
    return current_user.is_admin or str(user_id) == str(current_user.id)


@bp.get("/sessions/<session>")
def session_status(session: str):
    """A session of one's own (admins: any): live, or how it ended and whether to reconnect."""
    if refs.session_id(session) is None:
        return error(404, "not_found", "No such session.")
    live = sessions.live().session(session)
    if live is not None and _may_see_session(live.get("user_id")):
        return jsonify(session=session, state=live.get("state", "live"), machine=live.get("machine"),
                       end_reason=None, ended_by=None, reconnect=True)
    record = db.session.get(SessionRecord, session)
    if record is None or not _may_see_session(record.user_id):
        return error(404, "not_found", "No such session.")
    machine = machine_for_user(current_user, record.machine_id) if record.machine_id else None
    # Reconnecting makes sense only after a dropped link: not after a deliberate end, when
    # the PC is no longer yours, or when the PC itself refused (a wrong VNC password stays wrong,
    # and retrying it gets the gateway's address blacklisted by the VNC server).
    reconnect = bool(record.ended_at is None or (
        not record.ended_by and machine is not None and machine.revoked_at is None))
    return jsonify(session=session, state="ended" if record.ended_at else "live", machine=record.machine_name,
                   end_reason=record.end_reason or None, ended_by=record.ended_by or None, reconnect=reconnect)


@bp.delete("/sessions/<session>")
def end_session(session: str):
    """End one's own live session, or (admins) anyone's, with a reason the viewer shows."""
    live = sessions.live().session(session) if refs.session_id(session) is not None else None
    if live is None:
        # Open in the history with nothing live behind it (its node stopped): still endable.
        record = db.session.get(SessionRecord, session) if refs.session_id(session) is not None else None
        if record is None or record.ended_at is not None:
            return error(404, "not_found", "No such live session.")
        live = {"user_id": str(record.user_id)}
    if not _may_see_session(live.get("user_id")):
        return error(404, "not_found", "No such live session.")
    own = live.get("user_id") == str(current_user.id)
    if not own and not login_is_recent():
        return error(403, "reauth_required", REAUTH_MESSAGE)
    body = _body()
    reason = body.get("reason") if isinstance(body.get("reason"), str) and body.get("reason").strip() else (
        "Ended by the user" if own else "Ended by an admin")
    reason = reason.strip()[:200]
    ops.end_session(session, reason, **_who())
    return jsonify(session=session, ending=True, reason=reason), 202


# -- admin: live sessions, history, audit --------------------------------------------------------

@bp.get("/sessions")
@admin_only
def live_sessions():
    return jsonify(sessions=reports.live_session_rows())


def _page(args) -> tuple[int, int]:
    limit, offset = refs.record_id(args.get("limit", 200)), refs.record_id(args.get("offset", 0))
    if limit is None or offset is None:
        raise ApiError(400, "bad_request", "limit and offset must be whole numbers.")
    return min(PAGE_MAX, max(1, limit)), offset


@bp.get("/history")
@admin_only
def history():
    """Ended and live sessions; filters ``user``, ``machine``, ``since``, ``until``; ``format=csv``."""
    stmt = reports.history_query(request.args)
    if request.args.get("format") == "csv":
        return reports.history_csv(stmt)
    limit, offset = _page(request.args)
    rows = db.session.scalars(stmt.limit(limit).offset(offset))
    live_ids = reports.live_ids_or_none()
    return jsonify(history=[history_json(r, live_ids) for r in rows], limit=limit, offset=offset)


@bp.get("/audit")
@admin_only
def audit_log():
    """Audit events; filters ``actor``, ``action``, ``target``, ``ip``, ``since``, ``until``; ``format=csv``."""
    stmt = reports.audit_query(request.args)
    if request.args.get("format") == "csv":
        return reports.audit_csv(stmt)
    limit, offset = _page(request.args)
    rows = db.session.scalars(stmt.limit(limit).offset(offset))
    return jsonify(audit=[audit_json(r) for r in rows], limit=limit, offset=offset)


# -- admin: users ----------------------------------------------------------------------------------

@bp.get("/users")
@admin_only
def users():
    rows = list(db.session.scalars(select(User).order_by(User.name)))
    attacked = throttle().accounts_under_attack([u.name for u in rows])
    return jsonify(users=[user_json(u, attacked) for u in rows])


@bp.post("/users/<user>/logout")
@admin_only
def user_logout(user: str):
    """Log the user out everywhere: their cookies stop working and their live sessions end."""
    found = ops.get_user(user)
    ops.end_logins(found, "An admin logged you out", action="user_logout", **_who())
    return jsonify(user=user_json(found))


@bp.get("/login-attacks")
@admin_only
def login_attacks():
    """Account names someone has been guessing passwords for (tripped login limits), newest first."""
    return jsonify(attacks=reports.login_attack_rows())


@bp.post("/users")
@admin_only
def user_create():
    body = _body()
    user = ops.add_user(_str(body, "name"), _str(body, "password"), admin=bool(_bool(body, "admin")), **_who())
    return jsonify(user=user_json(user)), 201


@bp.get("/users/<user>")
@admin_only
def user_get(user: str):
    return jsonify(user=user_json(ops.get_user(user)))


@bp.patch("/users/<user>")
@admin_only
def user_update(user: str):
    """Change ``password``, ``disabled`` and/or ``admin``."""
    found = ops.get_user(user)
    body = _body()
    unknown = set(body) - {"password", "disabled", "admin"}
    if unknown:
        raise ApiError(400, "bad_request", f"Unknown fields: {', '.join(sorted(unknown))}.")
    password = _str(body, "password", required=False)
    disabled, admin = _bool(body, "disabled"), _bool(body, "admin")
    if password is not None:
        ops.set_password(found, password, **_who())
    if admin is not None:
        ops.set_admin(found, admin, **_who())
    if disabled is not None:
        ops.set_disabled(found, disabled, **_who())
    return jsonify(user=user_json(found))


@bp.delete("/users/<user>")
@admin_only
def user_delete(user: str):
    found = ops.get_user(user)
    name = found.name
    ops.delete_user(found, **_who())
    return jsonify(deleted={"user": name})


# -- admin: groups ---------------------------------------------------------------------------------

@bp.get("/groups")
@admin_only
def groups():
    return jsonify(groups=[group_json(g) for g in db.session.scalars(select(Group).order_by(Group.name))])


@bp.post("/groups")
@admin_only
def group_create():
    group = ops.add_group(_str(_body(), "name"), **_who())
    return jsonify(group=group_json(group)), 201


@bp.get("/groups/<group>")
@admin_only
def group_get(group: str):
    return jsonify(group=group_json(ops.get_group(group)))


@bp.patch("/groups/<group>")
@admin_only
def group_update(group: str):
    found = ops.get_group(group)
    ops.rename(found, _str(_body(), "name"), **_who())
    return jsonify(group=group_json(found))


@bp.delete("/groups/<group>")
@admin_only
def group_delete(group: str):
    found = ops.get_group(group)
    name = found.name
    ops.delete_group(found, **_who())
    return jsonify(deleted={"group": name})


@bp.put("/groups/<group>/members/<user>")
@admin_only
def group_member_add(group: str, user: str):
    g, u = ops.get_group(group), ops.get_user(user)
    added = ops.add_member(g, u, **_who())
    return jsonify(group=group_json(g), changed=added)


@bp.delete("/groups/<group>/members/<user>")
@admin_only
def group_member_remove(group: str, user: str):
    g, u = ops.get_group(group), ops.get_user(user)
    removed = ops.remove_member(g, u, **_who())
    return jsonify(group=group_json(g), changed=removed)


# -- admin: machines and grants -------------------------------------------------------------------

def _enrolment_json(machine: Machine, code: str) -> dict:
    return {"code": code, "expires_at": iso(ops.pending_code_expiry(machine)), "command": ops.enrol_command(code)}


@bp.get("/machines")
@admin_only
def machines_list():
    rows = list(db.session.scalars(select(Machine).order_by(Machine.name)))
    return jsonify(machines=[machine_json(m, s) for m, s in zip(rows, statuses(rows))])


@bp.post("/machines")
@admin_only
def machine_create():
    """Create a machine; the answer carries its one-time enrolment code (never shown again)."""
    external_url(current_app.config["PONTE"])  # refuse a foreign Host before anything changes
    machine, code = ops.add_machine(_str(_body(), "name"), **_who())
    resp = jsonify(machine=machine_json(machine), enrolment=_enrolment_json(machine, code))
    resp.headers["Cache-Control"] = "no-store"
    return resp, 201


@bp.get("/machines/<machine>")
@admin_only
def machine_get(machine: str):
    return jsonify(machine=machine_json(ops.get_machine(machine)))


@bp.patch("/machines/<machine>")
@admin_only
def machine_update(machine: str):
    found = ops.get_machine(machine)
    ops.rename(found, _str(_body(), "name"), **_who())
    return jsonify(machine=machine_json(found))


@bp.delete("/machines/<machine>")
@admin_only
def machine_delete(machine: str):
    found = ops.get_machine(machine)
    name = found.name
    ops.delete_machine(found, **_who())
    return jsonify(deleted={"machine": name})


@bp.post("/machines/<machine>/enrolment")
@admin_only
def machine_enrolment(machine: str):
    """A new one-time enrolment code (older unused codes stop working)."""
    found = ops.get_machine(machine)
    external_url(current_app.config["PONTE"])  # refuse a foreign Host before the old code dies
    code = ops.new_enrolment(found, **_who())
    resp = jsonify(machine={"id": found.id, "name": found.name}, enrolment=_enrolment_json(found, code))
    resp.headers["Cache-Control"] = "no-store"
    return resp, 201


@bp.post("/machines/<machine>/revoke")
@admin_only
def machine_revoke(machine: str):
    found = ops.get_machine(machine)
    ops.revoke_machine(found, **_who())
    return jsonify(machine=machine_json(found))


@bp.post("/machines/<machine>/vnc-retry")
@admin_only
def machine_vnc_retry(machine: str):
    """Ask the agent to log in to its VNC server again (it stops after a wrong password)."""
    found = ops.get_machine(machine)
    ops.retry_vnc(found, **_who())
    return jsonify(machine=machine_json(found))


@bp.get("/machines/<machine>/grants")
@admin_only
def machine_grants(machine: str):
    return jsonify(machine_json(ops.get_machine(machine))["grants"])


@bp.put("/machines/<machine>/grants/<user>")
@admin_only
def grant_put(machine: str, user: str):
    m, u = ops.get_machine(machine), ops.get_user(user)
    added = ops.grant(u, m, **_who())
    return jsonify(grant={"user": u.name, "machine": m.name}, changed=added), 201 if added else 200


@bp.delete("/machines/<machine>/grants/<user>")
@admin_only
def grant_delete(machine: str, user: str):
    m, u = ops.get_machine(machine), ops.get_user(user)
    removed = ops.ungrant(u, m, **_who())
    return jsonify(grant={"user": u.name, "machine": m.name}, changed=removed)


@bp.put("/machines/<machine>/group-grants/<group>")
@admin_only
def group_grant_put(machine: str, group: str):
    m, g = ops.get_machine(machine), ops.get_group(group)
    added = ops.grant(g, m, **_who())
    return jsonify(grant={"group": g.name, "machine": m.name}, changed=added), 201 if added else 200


@bp.delete("/machines/<machine>/group-grants/<group>")
@admin_only
def group_grant_delete(machine: str, group: str):
    m, g = ops.get_machine(machine), ops.get_group(group)
    removed = ops.ungrant(g, m, **_who())
    return jsonify(grant={"group": g.name, "machine": m.name}, changed=removed)


# -- admin: API tokens -----------------------------------------------------------------------------

@bp.get("/tokens")
@admin_only
def tokens():
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc()))
    return jsonify(tokens=[token_json(t) for t in rows])


@bp.post("/tokens")
@admin_only
def token_create():
    """A bearer token for ``user`` (default: the caller); the secret is in this answer only."""
    body = _body()
    owner = ops.get_user(body["user"]) if body.get("user") is not None else current_user._get_current_object()
    days = body.get("days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
        raise ApiError(400, "bad_request", "'days' must be a whole number.")
    row, secret = ops.create_token(owner, _str(body, "name", required=False) or "", days=days, **_who())
    resp = jsonify(token=token_json(row), secret=secret)
    resp.headers["Cache-Control"] = "no-store"
    return resp, 201


@bp.delete("/tokens/<token>")
@admin_only
def token_revoke(token: str):
    row = ops.get_token(token)
    ops.revoke_token(row, **_who())
    return jsonify(token=token_json(row))


# -- agents ----------------------------------------------------------------------------------------

@bp.post("/enroll")
@limiter.limit("10 per minute", key_func=ip_key)
def enroll():
    """An agent swaps a one-time enrolment code for its machine credential."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return error(400, "bad_request", "Send JSON {\"code\": \"...\"}.")
    hostname = clean(str(body.get("hostname", "")), 255)  # the agent's text: into the audit log and pages
    try:
        machine, credential = enrol_agent(body["code"], hostname, request.remote_addr or "")
    except EnrolmentError as exc:
        return error(403, "enrolment_refused", str(exc))
    return jsonify(machine={"id": machine.id, "name": machine.name}, credential=credential), 201
