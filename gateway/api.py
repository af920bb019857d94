"""JSON API ``/api/v1`` (DESIGN.md §4). Errors: ``{"error": {"code", "message"}}``.

Auth: the login cookie (mutating calls then need ``X-CSRFToken``) or a bearer
API token. Admin routes need ``is_admin``; by cookie they also need a recent
login (``auth.login_is_recent``), reads included, as the admin pages do.
Object references (``<user>``, ``<machine>``, ``<group>``) accept an id or a name.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from agents.protocol.text import clean

from . import machines as ops
from . import refs, sessions
from .auth import actor, client_ip, ip_key, login_is_recent, throttle, via_token
from .extensions import csrf, db, limiter
from .headers import external_url, websocket_url
from .live import LiveStoreError
from .machines import AdminError, Conflict, EnrolmentError, NotFound, enrol_agent
from .models import (ApiToken, AuditEvent, Group, Machine, SessionRecord, User, granted_machines,
                     machine_for_user, users_with_access)
from .machine_status import statuses

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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


# -- serialisation -------------------------------------------------------------------------------

def user_json(u: User, attacked: set[str] | None = None) -> dict:
    """``attacked``: names under login attack, when the caller looked them up for many users."""
    attacked = throttle().accounts_under_attack([u.name]) if attacked is None else attacked
    return {"id": u.id, "name": u.name, "admin": u.is_admin, "disabled": u.disabled,
            "under_attack": u.name in attacked,
            "created_at": _iso(u.created_at), "groups": [{"id": g.id, "name": g.name} for g in u.groups],
            "machines": [{"id": gr.machine.id, "name": gr.machine.name}
                         for gr in sorted(u.grants, key=lambda gr: gr.machine.name)]}


def group_json(g: Group) -> dict:
    return {"id": g.id, "name": g.name, "created_at": _iso(g.created_at),
            "members": [{"id": u.id, "name": u.name} for u in g.members],
            "machines": [{"id": gg.machine.id, "name": gg.machine.name}
                         for gg in sorted(g.grants, key=lambda gg: gg.machine.name)]}


def machine_json(m: Machine, status=None) -> dict:
    status = status or statuses([m])[0]
    return {"id": m.id, "name": m.name, "created_at": _iso(m.created_at), "enrolled_at": _iso(m.enrolled_at),
            "revoked_at": _iso(m.revoked_at), "enrolment_code_expires_at": _iso(ops.pending_code_expiry(m)),
            "status": status.as_dict(),
            "grants": {"users": [{"id": gr.user.id, "name": gr.user.name}
                                 for gr in sorted(m.grants, key=lambda gr: gr.user.name)],
                       "groups": [{"id": gg.group.id, "name": gg.group.name}
                                  for gg in sorted(m.group_grants, key=lambda gg: gg.group.name)]},
            "users_with_access": [{"id": u.id, "name": u.name} for u in users_with_access(m)]}


def token_json(t: ApiToken) -> dict:
    return {"id": t.id, "name": t.name, "prefix": t.prefix, "user": {"id": t.user.id, "name": t.user.name},
            "created_at": _iso(t.created_at), "created_by": t.created_by, "expires_at": _iso(t.expires_at),
            "last_used_at": _iso(t.last_used_at), "revoked_at": _iso(t.revoked_at), "usable": t.usable}


def history_json(r: SessionRecord, live_ids: set | None = None) -> dict:
    return {"id": r.id, "state": record_state(r, live_ids),
            "user": r.user_name, "user_id": r.user_id, "machine": r.machine_name,
            "machine_id": r.machine_id, "client_ip": r.client_ip, "started_at": _iso(r.started_at),
            "ended_at": _iso(r.ended_at), "duration_s": _duration(r),
            "bytes_to_viewer": r.bytes_to_viewer, "bytes_from_viewer": r.bytes_from_viewer,
            "end_reason": r.end_reason, "ended_by": r.ended_by}


def record_state(r: SessionRecord, live_ids: set | None) -> str:
    """``ended``; ``live`` (in the live index); ``stale``: open in SQL with nothing live
    behind it (its node stopped, being closed); ``open`` when Redis cannot say."""
    if r.ended_at is not None:
        return "ended"
    if live_ids is None:
        return "open"
    return "live" if r.id in live_ids else "stale"


def live_ids_or_none() -> set | None:
    try:
        return sessions.live().live_ids()
    except LiveStoreError:
        return None


def audit_json(r: AuditEvent) -> dict:
    return {"id": r.id, "at": _iso(r.at), "actor": r.actor, "ip": r.ip, "action": r.action,
            "target": r.target, "detail": r.detail}


def _duration(r: SessionRecord) -> int | None:
    return int((r.ended_at - r.started_at).total_seconds()) if r.ended_at else None


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
    return jsonify(sessions=live_session_rows())


def live_session_rows() -> list[dict]:
    """Live sessions as admins see them (user, machine, IP, start, duration, bytes).

    Rows open in the history with nothing live behind them (their node
    stopped; survivors close them within a node TTL) follow, as ``stale``.
    """
    now = time.time()
    out = []
    for s in sessions.live().live_sessions():
        started = float(s.get("started") or s.get("issued") or now)
        out.append({"id": s["id"], "state": s.get("state", ""), "user": s.get("user", ""),
                    "user_id": _int(s.get("user_id")), "machine": s.get("machine", ""),
                    "machine_id": _int(s.get("machine_id")), "client_ip": s.get("client_ip", ""),
                    "node": s.get("node", ""), "started": started,
                    "started_at": _iso_epoch(started), "duration_s": max(0, int(now - started)),
                    "bytes_to_viewer": _int(s.get("bytes_to_viewer")) or 0,
                    "bytes_from_viewer": _int(s.get("bytes_from_viewer")) or 0})
    seen = {row["id"] for row in out}
    for r in db.session.scalars(select(SessionRecord).where(SessionRecord.ended_at.is_(None))
                                .order_by(SessionRecord.started_at)):
        if r.id in seen:
            continue
        started = r.started_at.replace(tzinfo=timezone.utc).timestamp()
        out.append({"id": r.id, "state": "stale", "user": r.user_name, "user_id": r.user_id,
                    "machine": r.machine_name, "machine_id": r.machine_id, "client_ip": r.client_ip,
                    "node": r.node, "started": started, "started_at": _iso(r.started_at),
                    "duration_s": max(0, int(now - started)), "bytes_to_viewer": r.bytes_to_viewer,
                    "bytes_from_viewer": r.bytes_from_viewer})
    return out


def _iso_epoch(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_day(value: str | None, *, end: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` (UTC) as the start of that day, or the start of the next (``end``)."""
    if not value:
        return None
    try:
        day = datetime.strptime(value.strip()[:10], "%Y-%m-%d")
    except ValueError as exc:
        raise AdminError(f"{value!r} is not a date (YYYY-MM-DD).") from exc
    return day + timedelta(days=1) if end else day


def history_query(args) -> select:
    stmt = select(SessionRecord)
    if args.get("user"):
        stmt = stmt.where(SessionRecord.user_name == args["user"])
    if args.get("machine"):
        stmt = stmt.where(SessionRecord.machine_name == args["machine"])
    since, until = parse_day(args.get("since")), parse_day(args.get("until"), end=True)
    if since:
        stmt = stmt.where(SessionRecord.started_at >= since)
    if until:
        stmt = stmt.where(SessionRecord.started_at < until)
    return stmt.order_by(SessionRecord.started_at.desc(), SessionRecord.id)


def audit_query(args) -> select:
    stmt = select(AuditEvent)
    if args.get("actor"):
        stmt = stmt.where(AuditEvent.actor == args["actor"])
    if args.get("action"):
        stmt = stmt.where(AuditEvent.action == args["action"])
    if args.get("target"):
        stmt = stmt.where(AuditEvent.target.contains(args["target"], autoescape=True))
    if args.get("ip"):
        stmt = stmt.where(AuditEvent.ip == args["ip"])
    since, until = parse_day(args.get("since")), parse_day(args.get("until"), end=True)
    if since:
        stmt = stmt.where(AuditEvent.at >= since)
    if until:
        stmt = stmt.where(AuditEvent.at < until)
    return stmt.order_by(AuditEvent.id.desc())


def _page(args) -> tuple[int, int]:
    limit, offset = refs.record_id(args.get("limit", 200)), refs.record_id(args.get("offset", 0))
    if limit is None or offset is None:
        raise ApiError(400, "bad_request", "limit and offset must be whole numbers.")
    return min(PAGE_MAX, max(1, limit)), offset


def csv_safe(value) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(filename: str, header: list[str], rows) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


HISTORY_CSV = ["session", "user", "machine", "client_ip", "started_at", "ended_at", "duration_s",
               "bytes_to_viewer", "bytes_from_viewer", "end_reason", "ended_by"]


def history_csv_rows(rows):
    for r in rows:
        yield [r.id, r.user_name, r.machine_name, r.client_ip, _iso(r.started_at), _iso(r.ended_at),
               _duration(r), r.bytes_to_viewer, r.bytes_from_viewer, r.end_reason, r.ended_by]


AUDIT_CSV = ["at", "actor", "ip", "action", "target", "detail"]


def audit_csv_rows(rows):
    for r in rows:
        yield [_iso(r.at), r.actor, r.ip, r.action, r.target, r.detail]


@bp.get("/history")
@admin_only
def history():
    """Ended and live sessions; filters ``user``, ``machine``, ``since``, ``until``; ``format=csv``."""
    stmt = history_query(request.args)
    if request.args.get("format") == "csv":
        return csv_response("ponte-history.csv", HISTORY_CSV, history_csv_rows(db.session.scalars(stmt)))
    limit, offset = _page(request.args)
    rows = db.session.scalars(stmt.limit(limit).offset(offset))
    live_ids = live_ids_or_none()
    return jsonify(history=[history_json(r, live_ids) for r in rows], limit=limit, offset=offset)


@bp.get("/audit")
@admin_only
def audit_log():
    """Audit events; filters ``actor``, ``action``, ``target``, ``ip``, ``since``, ``until``; ``format=csv``."""
    stmt = audit_query(request.args)
    if request.args.get("format") == "csv":
        return csv_response("ponte-audit.csv", AUDIT_CSV, audit_csv_rows(db.session.scalars(stmt)))
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


def accounts_by_login_key() -> dict[str, User]:
    """Users by the key the login throttle files them under (``BOB`` and ``bob`` are one)."""
    from .throttle import normalise_account

    return {normalise_account(u.name): u for u in db.session.scalars(select(User).order_by(User.id.desc()))}


@bp.get("/login-attacks")
@admin_only
def login_attacks():
    """Account names someone has been guessing passwords for (tripped login limits), newest first."""
    return jsonify(attacks=login_attack_rows())


def login_attack_rows() -> list[dict]:
    by_account = accounts_by_login_key()
    out = []
    for a in throttle().attacks():
        found = by_account.get(a.account)
        out.append({"account": a.account, "user": {"id": found.id, "name": found.name} if found else None,
                    "last_at": _iso_epoch(a.last), "last": a.last, "failed_logins": a.failed_logins,
                    "networks": a.networks, "under_attack": a.under_attack})
    return out


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
    ops.rename_group(found, _str(_body(), "name"), **_who())
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

def enrol_command(code: str) -> str:
    """The line to paste on the PC; 400 when the URL would come from an unlisted Host."""
    url = external_url(current_app.config["PONTE"])
    return f"python -m agents enroll --gateway {url} --code {code}"


def _enrolment_json(machine: Machine, code: str) -> dict:
    return {"code": code, "expires_at": _iso(ops.pending_code_expiry(machine)), "command": enrol_command(code)}


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
    ops.rename_machine(found, _str(_body(), "name"), **_who())
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
    added = ops.grant_group(g, m, **_who())
    return jsonify(grant={"group": g.name, "machine": m.name}, changed=added), 201 if added else 200


@bp.delete("/machines/<machine>/group-grants/<group>")
@admin_only
def group_grant_delete(machine: str, group: str):
    m, g = ops.get_machine(machine), ops.get_group(group)
    removed = ops.ungrant_group(g, m, **_who())
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
