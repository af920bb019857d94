"""Live sessions: the list, and ending one with a reason the viewer shows."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import ops, reports
from ..auth import safe_next
from . import bp
from .helpers import who


@bp.get("/sessions")
def sessions():
    return render_template("admin/sessions.html", live=reports.live_session_rows())


@bp.post("/sessions/<session_id>/end")
def session_end(session_id: str):
    reason = request.form.get("reason", "").strip() or "Ended by an admin"
    if not ops.end_session(session_id, reason, **who()):
        flash(_("That session has ended already."), "info")
    else:
        flash(_("The session is ending; the viewer shows your reason."), "ok")
    back = request.form.get("back", "")
    return redirect(safe_next(back, url_for("admin.sessions")) if back.startswith("/admin") else
                    url_for("admin.sessions"))
