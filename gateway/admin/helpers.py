"""What the admin views share: who acts, a confirm box, run a change and flash how it went, read a chosen id,
find a record or 404, pages no cache may keep."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _

from .. import refs
from ..auth import actor, client_ip
from ..extensions import db
from ..models import Group, Machine, User
from ..ops import AdminError


def who() -> dict:
    """The ``actor``/``ip`` keywords every operation audits."""
    return {"actor": actor(), "ip": client_ip()}


def done(message: str, endpoint: str, **values):
    """Flash ``message`` as a success and go to ``endpoint``."""
    flash(message, "ok")
    return redirect(url_for(endpoint, **values))


def unconfirmed(warning: str, endpoint: str, **values):
    """Back to ``endpoint`` with ``warning`` unless the form's confirm box is ticked; None: go on."""
    if request.form.get("confirm") == "1":
        return None
    flash(warning, "error")
    return redirect(url_for(endpoint, **values))


def attempt(fn, endpoint: str, ok: str | None = None, **values):
    """Run an admin change; flash its outcome and go back to ``endpoint``."""
    try:
        result = fn()
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for(endpoint, **values))
    if ok:
        flash(ok.format(result=result), "ok")
    return redirect(url_for(endpoint, **values))


def form_id(field: str) -> str:
    """The id chosen in the form's ``field`` (a select), else ``AdminError``."""
    value = request.form.get(field, "").strip()
    if refs.record_id(value) is None:
        raise AdminError(_("Choose one from the list first."))
    return value


def user_or_404(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404, _("There is no such user."))


def machine_or_404(machine_id: int) -> Machine:
    return db.session.get(Machine, machine_id) or abort(404, _("There is no such PC."))


def group_or_404(group_id: int) -> Group:
    return db.session.get(Group, group_id) or abort(404, _("There is no such group."))


def no_store(html, status: int = 200):
    """A page holding a one-time secret: no cache may keep it."""
    resp = make_response(html, status)
    resp.headers["Cache-Control"] = "no-store"
    return resp
