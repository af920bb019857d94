"""A session's notices (limits drawing near, who else is watching) and shadowing it (admins)."""

from __future__ import annotations

import time

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from .. import recording, refs, sessions, shadowing
from ..errors import ApiError
from ..extensions import db, limiter
from ..auth import ip_key
from ..headers import websocket_url
from ..models import audit
from . import admin_only, bp, occupancy
from .inputs import body, boolean, who


def _live_or_404(session: str) -> dict:
    live = sessions.live().session(session) if refs.session_id(session) is not None else None
    if live is None or live.get("state") != "live":
        raise ApiError(404, "not_found", _("No such live session."))
    return live


@bp.get("/sessions/<session>/notices")
def session_notices(session: str):
    """What a session's viewer page shows beside the screen; polled while the session runs.

    From Redis only, so any node answers: the node relaying the session writes
    ``ends_at`` / ``idle_ends_at`` into its live record while a warning is on.
    ``now`` is the gateway's clock, for the page to count down without trusting its own.
    """
    live = _live_or_404(session)
    if not (current_user.is_admin or live.get("user_id") == str(current_user.id)):
        raise ApiError(404, "not_found", _("No such live session."))
    others = sessions.live().machine_sessions(int(live.get("machine_id") or 0))
    return jsonify(session=session, now=time.time(), ends_at=_epoch(live.get("ends_at")),
                   idle_ends_at=_epoch(live.get("idle_ends_at")), view_only=live.get("view_only") == "1",
                   kind=live.get("kind") or "user", watchers=shadowing.watchers(others, session))


@bp.post("/sessions/<session>/shadow")
@limiter.limit("30 per minute", key_func=ip_key)
@admin_only
def session_shadow(session: str):
    """Open a session on the PC of live ``session``: watching (default) or ``{"control": true}``."""
    control = bool(boolean(body(), "control"))
    live = _live_or_404(session)
    machine = shadowing.machine_to_shadow(current_user, int(live.get("machine_id") or 0))
    if machine is None:
        raise ApiError(409, "unavailable", _("This PC's access was revoked by an admin."))
    ws_url = websocket_url(current_app.config["PONTE"], "/ws/view")  # 400 on a foreign Host
    terms = shadowing.terms(control, record=shadowing.recorded(machine, live))
    occupancy.firm_admits_session()   # a shadow is one more session of the firm's (issue 17)
    issued = sessions.issue(current_user, machine, request.remote_addr or "", terms)
    audit("session_shadow", **who(), target=machine.name,
          detail=f"{issued.session} {'control' if control else 'watch'} of {session} ({live.get('user', '')})")
    db.session.commit()
    return jsonify(session=issued.session, ticket=issued.ticket, ws_url=ws_url, expires_in=issued.expires_in,
                   machine={"id": machine.id, "name": machine.name}, view_only=terms.view_only,
                   shadowing=session, recording={"notice": recording.notice()} if terms.record else None), 201


def _epoch(value) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
