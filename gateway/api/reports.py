"""What admins read: session history, the audit log (JSON pages or CSV), login attacks."""

from __future__ import annotations

from flask import jsonify, request

from .. import reports
from ..extensions import db
from ..models import AuditEvent, SessionRecord
from ..reports import duration, iso
from . import admin_only, bp
from .inputs import page


def history_json(r: SessionRecord, live_ids: set | None = None) -> dict:
    return {"id": r.id, "state": reports.record_state(r, live_ids),
            "user": r.user_name, "user_id": r.user_id, "machine": r.machine_name,
            "machine_id": r.machine_id, "client_ip": r.client_ip, "started_at": iso(r.started_at),
            "ended_at": iso(r.ended_at), "duration_s": duration(r),
            "bytes_to_viewer": r.bytes_to_viewer, "bytes_from_viewer": r.bytes_from_viewer,
            "end_reason": r.end_reason, "ended_by": r.ended_by, "recording": r.recording,
            **reports.history_quality(r)}


def audit_json(r: AuditEvent) -> dict:
    return {"id": r.id, "at": iso(r.at), "actor": r.actor, "ip": r.ip, "action": r.action,
            "target": r.target, "detail": r.detail}


@bp.get("/history")
@admin_only
def history():
    """Ended and live sessions; filters ``user``, ``machine``, ``since``, ``until``; ``format=csv``."""
    stmt = reports.history_query(request.args)
    if request.args.get("format") == "csv":
        return reports.history_csv(stmt)
    limit, offset = page(request.args)
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
    limit, offset = page(request.args)
    rows = db.session.scalars(stmt.limit(limit).offset(offset))
    return jsonify(audit=[audit_json(r) for r in rows], limit=limit, offset=offset)


@bp.get("/login-attacks")
@admin_only
def login_attacks():
    """Account names someone has been guessing passwords for (tripped login limits), newest first."""
    return jsonify(attacks=reports.login_attack_rows())
