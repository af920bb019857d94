"""JSON API ``/api/v1`` (DESIGN.md §4). Errors: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from . import sessions
from .extensions import csrf, db, limiter
from .machines import enrol_agent, EnrolmentError
from .models import AuditEvent, SessionRecord, granted_machines, machine_for_user
from .status import statuses

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # cookie-authenticated calls are checked in ``_authenticate``


def error(status: int, code: str, message: str):
    return jsonify(error={"code": code, "message": message}), status


@bp.before_request
def _authenticate():
    if request.endpoint == "api.enroll":
        return None
    if not current_user.is_authenticated:
        return error(401, "unauthorized", "Log in or send a valid API token.")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()  # a logged-in browser must prove the request came from our page
    return None


def _admin_only():
    if not current_user.is_admin:
        abort(403, "Admins only.")


@bp.get("/me/machines")
def my_machines():
    return jsonify(machines=[s.as_dict() for s in statuses(granted_machines(current_user))])


@bp.post("/machines/<machine>/sessions")
@limiter.limit("30 per minute")
def open_session(machine: str):
    found = machine_for_user(current_user, machine)
    if found is None:
        return error(403, "forbidden", "You may not open this PC.")
    issued = sessions.issue(current_user, found, request.remote_addr or "")
    ws_url = request.host_url.replace("http", "ws", 1).rstrip("/") + "/ws/view?ticket=" + issued.ticket
    return jsonify(session=issued.session, ticket=issued.ticket, ws_url=ws_url,
                   expires_in=issued.expires_in, machine={"id": found.id, "name": found.name}), 201


@bp.get("/sessions/<session>")
def session_status(session: str):
    """A session of one's own: live, or how it ended."""
    live = sessions.live().session(session)
    if live is not None and (str(current_user.id) == live.get("user_id") or current_user.is_admin):
        return jsonify(session=session, state=live.get("state", "live"), machine=live.get("machine"))
    record = db.session.get(SessionRecord, session)
    if record is None or (record.user_id != current_user.id and not current_user.is_admin):
        return error(404, "not_found", "No such session.")
    return jsonify(session=session, state="ended" if record.ended_at else "live",
                   machine=record.machine_name, end_reason=record.end_reason)


@bp.delete("/sessions/<session>")
def end_session(session: str):
    live = sessions.live().session(session)
    if live is None:
        return error(404, "not_found", "No such live session.")
    if live.get("user_id") != str(current_user.id) and not current_user.is_admin:
        return error(404, "not_found", "No such live session.")
    reason = (request.get_json(silent=True) or {}).get("reason") or (
        "Ended by an admin" if current_user.is_admin and live.get("user_id") != str(current_user.id)
        else "Ended by the user")
    reason = str(reason)[:200]
    hub = current_app.extensions["ponte.hub"]
    if not hub.end_session(session, reason):
        sessions.live().publish(live.get("node", ""), {"cmd": "end", "session": session, "reason": reason})
    return jsonify(session=session, ending=True, reason=reason), 202


@bp.get("/sessions")
def live_sessions():
    _admin_only()
    return jsonify(sessions=sessions.live().live_sessions())


@bp.get("/history")
def history():
    _admin_only()
    rows = db.session.scalars(select(SessionRecord).order_by(SessionRecord.started_at.desc()).limit(500))
    return jsonify(history=[{
        "id": r.id, "user": r.user_name, "machine": r.machine_name, "client_ip": r.client_ip,
        "started_at": r.started_at.isoformat() + "Z",
        "ended_at": r.ended_at.isoformat() + "Z" if r.ended_at else None,
        "bytes_to_viewer": r.bytes_to_viewer, "bytes_from_viewer": r.bytes_from_viewer,
        "end_reason": r.end_reason} for r in rows])


@bp.get("/audit")
def audit_log():
    _admin_only()
    rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(500))
    return jsonify(audit=[{"at": r.at.isoformat() + "Z", "actor": r.actor, "ip": r.ip,
                           "action": r.action, "target": r.target, "detail": r.detail} for r in rows])


@bp.post("/enroll")
@limiter.limit("10 per minute")
def enroll():
    """An agent swaps a one-time enrolment code for its machine credential."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return error(400, "bad_request", "Send JSON {\"code\": \"...\"}.")
    hostname = str(body.get("hostname", ""))[:255]
    try:
        machine, credential = enrol_agent(body["code"], hostname, request.remote_addr or "")
    except EnrolmentError as exc:
        return error(403, "enrolment_refused", str(exc))
    return jsonify(machine={"id": machine.id, "name": machine.name}, credential=credential), 201

