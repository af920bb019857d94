"""Office PCs (admins): list, create (with its one-time enrolment code), read, rename, delete,
a new enrolment code, revoke, ask the agent to retry its VNC login."""

from __future__ import annotations

from flask import current_app, jsonify
from sqlalchemy import select

from .. import ops
from ..extensions import db
from ..headers import external_url
from ..models import Machine, stored_interfaces, users_with_access
from ..reports import iso
from ..machine_status import statuses
from ..live import LiveStoreError
from ..wake import Neighbourhood, wakers_of
from . import admin_only, bp, no_store
from .inputs import body, string, who


def machine_json(m: Machine, status=None, neighbourhood: Neighbourhood | None = None) -> dict:
    """``neighbourhood``: the online agents, read once for a whole list (``Neighbourhood.read``)."""
    status = status or statuses([m])[0]
    return {"id": m.id, "name": m.name, "created_at": iso(m.created_at), "enrolled_at": iso(m.enrolled_at),
            "revoked_at": iso(m.revoked_at), "enrolment_code_expires_at": iso(ops.pending_code_expiry(m)),
            "status": status.as_dict(),
            "grants": {"users": [{"id": gr.user.id, "name": gr.user.name}
                                 for gr in sorted(m.grants, key=lambda gr: gr.user.name)],
                       "groups": [{"id": gg.group.id, "name": gg.group.name}
                                  for gg in sorted(m.group_grants, key=lambda gg: gg.group.name)]},
            "users_with_access": [{"id": u.id, "name": u.name} for u in users_with_access(m)],
            # Wake-on-LAN: its cards as last reported, and the online agents that can wake it now.
            "interfaces": [iface.as_dict() for iface in stored_interfaces(m.agent_interfaces)],
            "wakers": [w.as_dict() for w in (neighbourhood.wakers(m) if neighbourhood else wakers_of(m))]}


def _enrolment_json(machine: Machine, code: str) -> dict:
    return {"code": code, "expires_at": iso(ops.pending_code_expiry(machine)), "command": ops.enrol_command(code)}


@bp.get("/machines")
@admin_only
def machines_list():
    rows = list(db.session.scalars(select(Machine).order_by(Machine.name)))
    try:
        neighbourhood = Neighbourhood.read()
    except LiveStoreError:
        neighbourhood = Neighbourhood({})  # Redis down: nobody is known to be online
    return jsonify(machines=[machine_json(m, s, neighbourhood) for m, s in zip(rows, statuses(rows))])


@bp.post("/machines")
@admin_only
def machine_create():
    """Create a machine; the answer carries its one-time enrolment code (never shown again)."""
    external_url(current_app.config["PONTE"])  # refuse a foreign Host before anything changes
    machine, code = ops.add_machine(string(body(), "name"), **who())
    return no_store(jsonify(machine=machine_json(machine), enrolment=_enrolment_json(machine, code)), 201)


@bp.get("/machines/<machine>")
@admin_only
def machine_get(machine: str):
    return jsonify(machine=machine_json(ops.get_machine(machine)))


@bp.patch("/machines/<machine>")
@admin_only
def machine_update(machine: str):
    found = ops.get_machine(machine)
    ops.rename(found, string(body(), "name"), **who())
    return jsonify(machine=machine_json(found))


@bp.delete("/machines/<machine>")
@admin_only
def machine_delete(machine: str):
    found = ops.get_machine(machine)
    name = found.name
    ops.delete_machine(found, **who())
    return jsonify(deleted={"machine": name})


@bp.post("/machines/<machine>/enrolment")
@admin_only
def machine_enrolment(machine: str):
    """A new one-time enrolment code (older unused codes stop working)."""
    found = ops.get_machine(machine)
    external_url(current_app.config["PONTE"])  # refuse a foreign Host before the old code dies
    code = ops.new_enrolment(found, **who())
    enrolment = _enrolment_json(found, code)
    return no_store(jsonify(machine={"id": found.id, "name": found.name}, enrolment=enrolment), 201)


@bp.post("/machines/<machine>/revoke")
@admin_only
def machine_revoke(machine: str):
    found = ops.get_machine(machine)
    ops.revoke_machine(found, **who())
    return jsonify(machine=machine_json(found))


@bp.post("/machines/<machine>/vnc-retry")
@admin_only
def machine_vnc_retry(machine: str):
    """Ask the agent to log in to its VNC server again (it stops after a wrong password)."""
    found = ops.get_machine(machine)
    ops.retry_vnc(found, **who())
    return jsonify(machine=machine_json(found))
