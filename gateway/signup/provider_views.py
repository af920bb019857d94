"""The provider's queue of firms asking for access: ``/provider/signups``.

For whoever ``requests.may_run_provider`` says (the provider's operators),
with a recent password like the admin console. Approving or refusing is audited; so is the
automatic-approval switch. Opening the queue first marks the unconfirmed requests whose link
ran out as expired.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import client_ip, login_is_recent, safe_next
from ..errors import AdminError, NotFound
from ..extensions import login_manager
from . import requests
from .outbox import outbox

# Its own blueprint beside gateway/provider.py's page of organisations, under the same /provider/.
bp = Blueprint("provider_queue", __name__, url_prefix="/provider")


@bp.app_context_processor
def _nav():
    """``signup_queue_shown()`` in every page's header: the queue's link, for whoever may open it."""
    return {"signup_queue_shown": lambda: bool(current_app.config["PONTE"].signup)
            and requests.may_run_provider(current_user)}


@bp.before_request
def _guard():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not requests.may_run_provider(current_user):
        abort(403, _("This page is for the provider's operators."))
    if not login_is_recent():
        target = request.full_path.rstrip("?") if request.method == "GET" else url_for("provider_queue.signups")
        if request.method != "GET":
            flash(_("For your safety, confirm your password, then make the change again."), "info")
        return redirect(url_for("auth.reauth", next=safe_next(target, url_for("provider_queue.signups"))))
    return None


@bp.route("/signups")
def signups():
    requests.expire_unconfirmed()
    waiting, decided = requests.queue()
    return render_template("provider/signups.html", waiting=waiting, decided=decided,
                           auto=requests.auto_approve(), outbox=outbox(current_app).waiting())


def _row(signup_id: int):
    try:
        return requests.get_request(signup_id)
    except NotFound:
        abort(404, _("There is no such request."))


def _back():
    return redirect(url_for("provider_queue.signups"))


@bp.post("/signups/<int:signup_id>/approve")
def approve(signup_id: int):
    row = _row(signup_id)
    try:
        user, queued = requests.approve(row, actor=current_user.name, ip=client_ip())
    except AdminError as exc:
        flash(str(exc), "error")
        return _back()
    if queued:
        flash(_("%(firm)s is approved: the invitation for %(name)s is on its way to %(email)s.",
                firm=row.firm_name, name=user.name, email=row.email), "ok")
    else:
        flash(_("%(firm)s is approved, but the invitation could not be queued: send %(name)s a new link "
                "from the firm's people page.", firm=row.firm_name, name=user.name), "error")
    return _back()


@bp.post("/signups/<int:signup_id>/refuse")
def refuse(signup_id: int):
    row = _row(signup_id)
    try:
        requests.refuse(row, actor=current_user.name, ip=client_ip())
    except AdminError as exc:
        flash(str(exc), "error")
        return _back()
    flash(_("The request of %(firm)s is refused.", firm=row.firm_name), "ok")
    return _back()


@bp.post("/signups/auto")
def auto():
    on = request.form.get("auto") == "on"
    requests.set_auto_approve(on, actor=current_user.name, ip=client_ip())
    flash(_("Confirmed requests are now approved automatically.") if on
          else _("Confirmed requests now wait here for a decision."), "ok")
    return _back()
