"""Live sessions: the list, ending one with a reason the viewer shows, shadowing one."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import ops, reports, sessions as live_sessions
from ..extensions import db
from ..models import Machine, machine_for_user
from ..ops import policy as policy_ops
from .. import refs
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


@bp.get("/sessions/<session_id>/watch")
def session_watch(session_id: str):
    """The viewer page on a live session's PC; its script opens the shadow session
    (``POST /api/v1/sessions/<id>/shadow``, audited there), watching or with ``?control=1``."""
    row = live_sessions.live().session(session_id) if refs.session_id(session_id) else None
    machine = db.session.get(Machine, int(row.get("machine_id") or 0)) if row and row.get("state") == "live" else None
    if machine is None:
        flash(_("That session has ended already."), "info")
        return redirect(url_for("admin.sessions"))
    control = request.args.get("control") == "1"
    # Files as for the admin's own sessions: only on a PC granted to them, as its policy allows.
    files_way = (policy_ops.decide(current_user, machine).file_transfer
                 if machine_for_user(current_user, machine.id) is not None else "none")
    resp = make_response(render_template("portal/view.html", machine=machine, file_transfer=files_way,
                                         shadow={"session": session_id, "control": control, "user": row.get("user", "")}))
    resp.headers["Cache-Control"] = "no-store"
    return resp
