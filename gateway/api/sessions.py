"""Viewing sessions: open one on a granted machine (waking it first if it sleeps), look at it, end it;
every live one (admins)."""

from __future__ import annotations

import dataclasses

from flask import Response, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from .. import end_reasons, ending, ops, quality, recording, refs, reports, sessions, wake
from ..ops import recordings as recordings_ops
from ..recording import playback
from ..auth import _scope, ip_key, login_is_recent
from ..extensions import db, limiter
from ..headers import websocket_url
from ..machine_status import statuses
from ..models import SessionRecord, machine_for_user
from . import REAUTH_MESSAGE, admin_only, bp, occupancy
from ..errors import ApiError, RecordingFormatError
from .inputs import body, who


@bp.post("/machines/<machine>/sessions")
@limiter.limit("30 per minute", key_func=ip_key)
def open_session(machine: str):
    found = machine_for_user(current_user, machine)
    if found is None:
        raise ApiError(403, "forbidden", _("You may not open this PC."))
    if found.revoked_at is not None:
        raise ApiError(409, "unavailable", _("This PC's access was revoked by an admin."))
    # No ticket in the URL (proxy logs): the client offers it as the subprotocol ``ponte.ticket.<ticket>``.
    ws_url = websocket_url(current_app.config["PONTE"], "/ws/view")  # 400 on a foreign Host
    # The policy (hours, who else is on it, limits): 403/409 here, or the terms the relay enforces.
    sent = request.get_json(silent=True)   # lenient: clients have always POSTed no body or any body
    offered = sent.get("takeover") if isinstance(sent, dict) else None
    terms = occupancy.admit(current_user, found, takeover_id=offered if isinstance(offered, str) else None)
    terms = dataclasses.replace(terms, record=recording.recording_for(found, current_user))
    issued = sessions.issue(current_user, found, request.remote_addr or "", terms)
    occupancy.issued(found, current_user, issued.session)
    # A recorded session's notice comes with its ticket: the viewer shows it before it connects.
    return jsonify(session=issued.session, ticket=issued.ticket, ws_url=ws_url,
                   expires_in=issued.expires_in, machine={"id": found.id, "name": found.name},
                   recording={"notice": recording.notice()} if terms.record else None), 201


def _may_see_session(user_id) -> bool:
    return current_user.is_admin or str(user_id) == str(current_user.id)


@bp.get("/sessions/<session>")
def session_status(session: str):
    """A session of one's own (admins: any): live, or how it ended and whether to reconnect."""
    if refs.session_id(session) is None:
        raise ApiError(404, "not_found", _("No such session."))
    live = sessions.live().session(session)
    if live is not None and not ending.is_ending(live) and _may_see_session(live.get("user_id")):
        return jsonify(session=session, state=live.get("state", "live"), machine=live.get("machine"),
                       end_reason=None, ended_by=None, reconnect=True)
    record = db.session.get(SessionRecord, session)
    if record is None or not _may_see_session(record.user_id):
        raise ApiError(404, "not_found", _("No such session."))
    end = ending.seen(record, live)
    machine = machine_for_user(current_user, record.machine_id) if record.machine_id else None
    # Reconnecting makes sense only after a dropped link: not after a deliberate end, when
    # the PC is no longer yours, or when the PC itself refused (a wrong VNC password stays wrong,
    # and retrying it gets the gateway's address blacklisted by the VNC server).
    reconnect = bool(not end.ended or (not end.ended_by and machine is not None and machine.revoked_at is None))
    return jsonify(session=session, state="ended" if end.ended else "live", machine=record.machine_name,
                   end_reason=end.reason or None, ended_by=end.ended_by or None, reconnect=reconnect,
                   # The stored reason stays English (scripts match it); this one is for people to read.
                   end_reason_text=end_reasons.shown(end.reason) or None)


@bp.delete("/sessions/<session>")
def end_session(session: str):
    """End one's own live session, or (admins) anyone's, with a reason the viewer shows."""
    live = sessions.live().session(session) if refs.session_id(session) is not None else None
    if live is None:
        # Open in the history with nothing live behind it (its node stopped): still endable.
        record = db.session.get(SessionRecord, session) if refs.session_id(session) is not None else None
        if record is None or record.ended_at is not None:
            raise ApiError(404, "not_found", _("No such live session."))
        live = {"user_id": str(record.user_id)}
    if not _may_see_session(live.get("user_id")):
        raise ApiError(404, "not_found", _("No such live session."))
    own = live.get("user_id") == str(current_user.id)
    if not own and not login_is_recent():
        raise ApiError(403, "reauth_required", _(REAUTH_MESSAGE))
    fields = body()
    reason = fields.get("reason") if isinstance(fields.get("reason"), str) and fields.get("reason").strip() else (
        "Ended by the user" if own else "Ended by an admin")
    reason = reason.strip()[:200]
    ops.end_session(session, reason, **who())
    return jsonify(session=session, ending=True, reason=reason), 202


@bp.get("/sessions")
@admin_only
def live_sessions():
    return jsonify(sessions=reports.live_session_rows())


@bp.post("/machines/<machine>/wake")
@limiter.limit("10 per minute", key_func=ip_key)
def machine_wake(machine: str):
    """Wake a granted PC that is off or asleep, through an online agent on its subnet.

    The answer says how long to wait for its agent (``timeout``); the caller then watches
    the PC's state (``/me/machines``) and opens it once it is online. Neighbours' names are
    not in it: an employee sees only the PCs granted to them.
    """
    found = machine_for_user(current_user, machine)
    if found is None:
        raise ApiError(403, "forbidden", "You may not open this PC.")
    if found.revoked_at is not None:
        raise ApiError(409, "unavailable", "This PC's access was revoked by an admin.")
    status = statuses([found])[0]
    if status.online:
        raise ApiError(409, "online", "This PC is already on.")
    wakers = wake.wakers_of(found)
    if not wakers:
        raise ApiError(409, "no_waker", "This PC cannot be woken from here: no other PC on its network is "
                                        "online. Switch it on by hand, or ask your admin.")
    asked = wake.wake(found, wakers, **who())
    return jsonify(machine={"id": found.id, "name": found.name}, waking=True, senders=len(asked),
                   timeout=current_app.config["PONTE"].wake_timeout), 202


# -- session quality: the viewer's own figures in, the gateway's out --

def _quality_key() -> str:
    """One budget per person and session: a viewer reports every ~10 s (``viewer_quality.js``)."""
    session = str((request.view_args or {}).get("session", ""))[:64]
    return f"{_scope()}quality:{current_user.get_id()}:{session}"


@bp.post("/sessions/<session>/quality")
@limiter.limit("12 per minute", key_func=_quality_key)
def session_quality(session: str):
    """A viewer's report on its own live session (FramebufferUpdates counted over some seconds,
    and the encoding of most rects); the answer is the session's figures, with its grade."""
    live = sessions.live().session(session) if refs.session_id(session) is not None else None
    if live is None or live.get("user_id") != str(current_user.id) or live.get("state") != "live":
        raise ApiError(404, "not_found", _("No such live session."))
    try:
        report = quality.parse_viewer_report(body())
    except quality.ReportRefused as exc:
        raise ApiError(400, "bad_request", _refusal(exc.field)) from exc
    after = sessions.live().session_viewer_report(session, report.updates, report.seconds, report.fps,
                                                  report.encoding)
    if after is None:
        raise ApiError(404, "not_found", _("No such live session."))
    return jsonify(session=session, quality=reports.quality_json(after))


def _refusal(field: str) -> str:
    if field == "updates":
        return _("“updates” must be a whole number from 0 to %(most)d.", most=quality.MAX_UPDATES)
    if field == "seconds":
        return _("“seconds” must be a number from %(least)d to %(most)d.", least=quality.MIN_SECONDS,
                 most=quality.MAX_SECONDS)
    if field == "encoding":
        return _("“encoding” must be one of %(names)s.", names=", ".join(sorted(quality.ENCODINGS)))
    return _("Send a JSON object.")
# -- recordings (gateway/recording/): the player page reads these ---------------------------------

def _recorded(session: str) -> SessionRecord:
    record = db.session.get(SessionRecord, session) if refs.session_id(session) is not None else None
    if record is None or not recording.playable(record.recording):
        raise ApiError(404, "not_found", _("This session has no recording."))
    return record


@bp.get("/sessions/<session>/recording")
@admin_only
def recording_get(session: str):
    """A recording's summary: duration, its time index, its idle periods, why it stopped early."""
    record = _recorded(session)
    try:
        found = playback.summary(recording.storage(), session)
    except (FileNotFoundError, RecordingFormatError):
        raise ApiError(404, "not_found", _("This session's recording is not in the recordings folder."))
    return jsonify(**found, status=record.recording, user=record.user_name, machine=record.machine_name)


@bp.get("/sessions/<session>/recording/data")
@admin_only
def recording_data(session: str):
    """The records, uncompressed, for the player (docs/recording-format.md, "The player's stream")."""
    _recorded(session)
    try:
        chunks = playback.records_stream(recording.storage(), session)
    except (FileNotFoundError, RecordingFormatError):
        raise ApiError(404, "not_found", _("This session's recording is not in the recordings folder."))
    resp = Response(chunks, mimetype="application/octet-stream")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.delete("/sessions/<session>/recording")
@admin_only
def recording_delete(session: str):
    """Delete a recording (audited); the history row stays and says it was deleted."""
    _recorded(session)
    recordings_ops.delete_recording(session, **who())
    return jsonify(session=session, deleted=True)
