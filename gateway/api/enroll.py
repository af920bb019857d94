"""Agents: swap a one-time enrolment code for the machine's credential (no login; rate-limited)."""

from __future__ import annotations

from flask import current_app, jsonify, request

from agents.protocol.text import clean

from .. import ops
from ..auth import ip_key
from ..extensions import limiter
from . import bp
from ..errors import ApiError


@bp.post("/enroll")
@limiter.limit(lambda: current_app.config["PONTE"].enrol_limit, key_func=ip_key)
def enroll():
    """An agent swaps a one-time enrolment code for its machine credential."""
    fields = request.get_json(silent=True)
    if not isinstance(fields, dict) or not isinstance(fields.get("code"), str):
        raise ApiError(400, "bad_request", "Send JSON {\"code\": \"...\"}.")
    hostname = clean(str(fields.get("hostname", "")), 255)  # the agent's text: into the audit log and pages
    try:
        machine, credential = ops.enrol_agent(fields["code"], hostname, request.remote_addr or "")
    except ops.EnrolmentError as exc:
        raise ApiError(403, "enrolment_refused", str(exc)) from exc
    return jsonify(machine={"id": machine.id, "name": machine.name}, credential=credential), 201
