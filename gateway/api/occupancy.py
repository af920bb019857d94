"""The policy at the door of a PC: who may open it now, on what terms; asking to take it over.

``admit`` is called by ``POST /machines/<m>/sessions`` before a ticket is issued:
outside the allowed hours → 403 ``outside_hours``; ``exclusive`` and someone
else on it → 409 ``in_use`` ("In use by emp since 9:12"); ``view_only_join``
and someone else on it → view-only terms. Idle timeout and maximum duration
go into the terms; the relay enforces them.

Take-over (``gateway.takeover``): the asker ``POST``s ``/machines/<m>/takeover``
and polls ``GET`` the same for the answer; the person at the PC sees the request
in their viewer (``GET /sessions/<id>/takeover``, which also names the others on
a shared PC) and answers it (``POST`` the same). On accept their session ends
"Taken over by <asker>" (node bus, whichever node holds it) and the asker opens
the PC with the request's id. An admin takes over outright, audited.
"""

from __future__ import annotations

from flask import current_app, jsonify
from flask_babel import gettext as _
from flask_login import current_user

from .. import ops, refs, sessions, takeover
from ..errors import ApiError, LimitReached
from ..extensions import db, limiter
from ..auth import ip_key
from ..live import LiveStoreError
from ..models import Machine, User, audit, machine_for_user
from ..ops import org_limits, policy as policy_ops
from ..ops.organisations import FIRM_DISABLED, organisation_disabled
from ..scoping import acting_organisation
from ..policy_status import hours_text, in_use_message, zone_name
from ..terms import SessionTerms
from . import bp
from .inputs import body, string, who

TAKEN_OVER = "Taken over by {person}"


def _live():
    return current_app.extensions["ponte.live"]


def others_on(machine: Machine, user: User) -> list[dict]:
    """The live sessions of other people on ``machine`` (Redis: every node's)."""
    # Redis down: ``LiveStoreError`` reaches the app's handler (503 ``live_store_unavailable``);
    # an exclusive PC is not opened blind.
    rows = takeover.occupants(_live(), machine.id)
    return [r for r in rows if r.get("user_id") != str(user.id)]


def admit(user: User, machine: Machine, *, takeover_id: str | None = None) -> SessionTerms:
    """The terms of a session ``user`` may open on ``machine`` now, else ``ApiError``."""
    firm_admits_session()
    decision = policy_ops.decide(user, machine)
    if not decision.allowed_now:
        raise ApiError(403, "outside_hours", _(
            "This PC may be used only %(hours)s (%(zone)s time); it is outside those hours now.",
            hours=hours_text(decision.hours), zone=zone_name()))
    others = others_on(machine, user)
    if decision.concurrency == "exclusive":
        claimed = bool(takeover_id) and takeover.claim(_live(), takeover_id, user_id=user.id, machine_id=machine.id)
        if others and not claimed:
            raise ApiError(409, "in_use", in_use_message(others[0]))
        holder = takeover.reserve(_live(), machine.id, user_id=user.id, user=user.name, ttl=_hold_ttl())
        if holder is not None and not claimed:
            raise ApiError(409, "in_use", in_use_message(holder))
        return decision.terms()
    return decision.terms(view_only=decision.concurrency == "view_only_join" and bool(others))


def firm_admits_session() -> None:
    """Before any session of the acting firm is issued (issue 17): 403 ``organisation_disabled``
    when its provider disabled it, 409 ``organisation_limit`` at the provider's limit."""
    if organisation_disabled(acting_organisation()):
        raise ApiError(403, "organisation_disabled", _(FIRM_DISABLED))
    try:
        org_limits.check_session_limit(_live())
    except LimitReached as exc:
        raise ApiError(409, "organisation_limit", str(exc)) from exc


def _hold_ttl() -> int:
    settings = current_app.config["PONTE"]
    return settings.ticket_ttl + int(settings.stream_timeout)


def issued(machine: Machine, user: User, session: str) -> None:
    """After ``sessions.issue``: an exclusive PC's hold (``admit``) is for this session, so it
    ends when the session does, or when it never starts (its pending record expires)."""
    takeover.held_by(_live(), machine.id, session, _hold_ttl(), user_id=user.id)


# -- take-over ---------------------------------------------------------------------------------------

@bp.post("/machines/<machine>/takeover")
@limiter.limit("20 per minute", key_func=ip_key)
def machine_takeover(machine: str):
    """Ask the person on an exclusive PC to hand it over (an admin: take it at once)."""
    found = machine_for_user(current_user, machine)
    if found is None:
        raise ApiError(403, "forbidden", _("You may not open this PC."))
    others = others_on(found, current_user)
    if not others:
        raise ApiError(409, "not_in_use", _("Nobody else is on this PC: open it."))
    live = _live()
    if current_user.is_admin:
        reason = TAKEN_OVER.format(person=current_user.name)
        for row in others:
            ops.end_session(row["id"], reason, **who())
        audit("session_takeover", **who(), target=found.name,
              detail=", ".join(f"{r['id']} ({r.get('user', '')})" for r in others))
        db.session.commit()
        request_id = takeover.ask(live, machine_id=found.id, session=others[0]["id"], asker=current_user.name,
                                  asker_id=current_user.id, state="accepted")
        return jsonify(request=request_id, state="accepted", expires_in=0), 201
    if policy_ops.decide(current_user, found).concurrency != "exclusive":
        raise ApiError(409, "not_exclusive", _("This PC can be shared: open it."))
    target = others[0]
    waiting = takeover.pending_for(live, target["id"])
    if waiting is not None and waiting.get("asker_id") != str(current_user.id):
        raise ApiError(409, "busy", _("Someone else is asking for this PC right now; try again in a minute."))
    request_id = waiting["id"] if waiting else takeover.ask(
        live, machine_id=found.id, session=target["id"], asker=current_user.name, asker_id=current_user.id)
    return jsonify(request=request_id, state="pending", expires_in=takeover.ANSWER_TIME), 202


@bp.get("/machines/<machine>/takeover")
def machine_takeover_status(machine: str):
    """The caller's latest request for this PC: ``pending`` (``expires_in``), ``accepted``,
    ``refused``, ``expired`` or ``used``; ``null`` if they made none lately."""
    found = machine_for_user(current_user, machine)
    if found is None:
        raise ApiError(403, "forbidden", _("You may not open this PC."))
    latest = takeover.latest(_live(), asker_id=current_user.id, machine_id=found.id)
    if latest is None:
        return jsonify(request=None, state=None, expires_in=0)
    return jsonify(request=latest["id"], state=latest["state"], expires_in=latest["expires_in"])


def _live_session(session: str) -> dict:
    row = sessions.live().session(session) if refs.session_id(session) is not None else None
    # Admins too: they may end anyone's session (``DELETE /sessions/<id>``), answering for it is no more.
    if row is None or not (current_user.is_admin or row.get("user_id") == str(current_user.id)):
        raise ApiError(404, "not_found", _("No such live session."))
    return row


@bp.get("/sessions/<session>/takeover")
def session_takeover(session: str):
    """For the viewer of one's own session: a take-over request waiting for an answer (or null),
    and the names of the others on the same PC (``others``)."""
    row = _live_session(session)
    # Who else is on the PC (a shared one): the viewer shows them, so nobody watches unseen.
    try:
        present = sorted({r.get("user", "") for r in takeover.occupants(_live(), int(row.get("machine_id") or 0))
                          if r["id"] != session and r.get("user_id") != row.get("user_id")})
    except (LiveStoreError, ValueError):
        present = []
    waiting = takeover.pending_for(_live(), session)
    if waiting is None:
        return jsonify(takeover=None, others=present)
    return jsonify(takeover={"request": waiting["id"], "by": waiting["asker"], "expires_in": waiting["expires_in"]},
                   others=present)


@bp.post("/sessions/<session>/takeover")
def session_takeover_answer(session: str):
    """Accept (the session ends, "Taken over by …") or refuse a take-over request."""
    row = _live_session(session)
    fields = body()
    request_id = string(fields, "request")
    accept = fields.get("answer")
    if accept not in ("accept", "refuse"):
        raise ApiError(400, "bad_request", _("'answer' must be 'accept' or 'refuse'."))
    found = takeover.read(_live(), request_id) if refs.session_id(request_id) is not None else None
    if found is None or found.get("session") != session:
        raise ApiError(404, "not_found", _("No such request."))
    if not takeover.answer(_live(), request_id, accept == "accept"):
        raise ApiError(409, "answered", _("This request was answered already or has expired."))
    audit("session_takeover_" + ("accepted" if accept == "accept" else "refused"), **who(),
          target=row.get("machine", ""), detail=f"{session} to {found['asker']}")
    db.session.commit()
    if accept == "accept":
        # Ended by the asker (with consent): the viewer then says who has the PC now, and does not reconnect.
        ops.end_session(session, TAKEN_OVER.format(person=found["asker"]), actor=found["asker"], ip=who()["ip"])
    return jsonify(request=request_id, state="accepted" if accept == "accept" else "refused")
