"""Admin pages of company sign-in and onboarding, under ``/admin/signin/``.

Guarded exactly like the admin console (``admin._guard``: an admin whose password,
or company sign-in, is recent). Invite a person (no password: a one-time link, shown
to copy and emailed when SMTP is configured), give anyone a new link, and choose how
each person signs in (local / LDAP / OpenID), and import people from CSV.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from .. import ops
from ..admin import _guard
from ..auth import actor, client_ip
from ..extensions import db
from ..models import SIGNIN_METHODS, User
from ..errors import ImportRefused
from . import importer, invitations, mail
from .accounts import METHOD_LABELS, add_invited_user, set_signin_method

bp = Blueprint("signin_admin", __name__, url_prefix="/admin/signin")
bp.before_request(_guard)


def _who() -> dict:
    return {"actor": actor(), "ip": client_ip()}


def _user(user_id: int) -> User:
    found = db.session.get(User, user_id)
    if found is None:
        abort(404, _("No such user."))
    return found


def _link_page(user: User, token: str):
    sent = invitations.send_link(user, token, invitations.INVITE)
    return render_template("signin/link_created.html", u=user, url=invitations.link(token), sent=sent,
                           mail_on=mail.configured(current_app.config["PONTE"]))


@bp.route("/invite", methods=["GET", "POST"])
def invite():
    """Add a person without a password; a local one gets a one-time set-password link."""
    if request.method == "POST":
        form = request.form
        try:
            user = add_invited_user(form.get("name", ""), email=form.get("email", ""),
                                    display_name=form.get("display_name", ""), admin=form.get("admin") == "1",
                                    signin_method=form.get("signin_method", "local"), **_who())
        except ops.AdminError as exc:
            flash(str(exc), "error")
            return redirect(url_for("signin_admin.invite"))
        if user.signin_method != "local":
            flash(_("User %(name)s created: they sign in with %(method)s.", name=user.name,
                    method=METHOD_LABELS[user.signin_method]), "ok")
            return redirect(url_for("admin.user", user_id=user.id))
        return _link_page(user, invitations.issue(user, invitations.INVITE, **_who()))
    return render_template("signin/invite.html", methods=SIGNIN_METHODS, labels=METHOD_LABELS,
                           mail_on=mail.configured(current_app.config["PONTE"]))


@bp.post("/users/<int:user_id>/link")
def user_link(user_id: int):
    """A new one-time set-password link for a local account (older unused ones stop working)."""
    user = _user(user_id)
    try:
        token = invitations.issue(user, invitations.INVITE, **_who())
    except ops.AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.user", user_id=user.id))
    return _link_page(user, token)


@bp.post("/users/<int:user_id>/method")
def user_method(user_id: int):
    user = _user(user_id)
    try:
        changed = set_signin_method(user, request.form.get("signin_method", ""), **_who())
    except ops.AdminError as exc:
        flash(str(exc), "error")
    else:
        if changed:
            flash(_("%(name)s now signs in with: %(method)s. Their logins have ended.", name=user.name,
                    method=METHOD_LABELS[user.signin_method]), "ok")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.route("/import", methods=["GET", "POST"])
def import_people():
    """CSV of people: upload, see what would change (nothing changes yet), then import."""
    if request.method == "GET":
        return render_template("signin/import.html", columns=importer.COLUMNS)
    upload = request.files.get("file")
    text = upload.read().decode("utf-8-sig", "replace") if upload and upload.filename else \
        request.form.get("csv", "")
    try:
        result = importer.plan(text)
    except ImportRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("signin_admin.import_people"))
    if request.form.get("confirm") != "1" or not result.accepted:
        return render_template("signin/import_preview.html", result=result, csv=text)
    try:
        made = importer.apply(result, **_who())
    except ops.AdminError as exc:   # a row made meanwhile by another admin: nothing more is imported
        flash(_("Import stopped: %(why)s", why=exc), "error")
        return redirect(url_for("admin.users"))
    rows = [(name, invitations.link(token),
             invitations.send_link(db.session.scalar(select(User).where(User.name == name)), token))
            for name, token in made]
    return render_template("signin/import_done.html", rows=rows, rejected=result.rejected)
