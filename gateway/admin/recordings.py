"""A session's recording, played in the browser (novnc_static/player.js reads the API)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from .. import recording, refs
from ..errors import AdminError
from ..extensions import db
from ..models import SessionRecord
from ..ops import recordings as recordings_ops
from . import bp
from .helpers import who


def _recorded(session_id: str) -> SessionRecord:
    record = db.session.get(SessionRecord, session_id) if refs.session_id(session_id) is not None else None
    if record is None or not recording.playable(record.recording):
        abort(404, _("This session has no recording."))
    return record


@bp.get("/recordings/<session_id>")
def recording_player(session_id: str):
    return render_template("admin/recording.html", record=_recorded(session_id))


@bp.post("/recordings/<session_id>/delete")
def recording_delete(session_id: str):
    _recorded(session_id)
    try:
        recordings_ops.delete_recording(session_id, **who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.recording_player", session_id=session_id))
    flash(_("Recording deleted; the session stays in the history."), "ok")
    return redirect(url_for("admin.history"))
