"""Bearer API tokens: the list, a new one (its secret shown once), revoke."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import ops
from ..extensions import db
from ..models import ApiToken, User
from ..ops import AdminError
from . import bp
from .helpers import attempt, form_id, no_store, who


@bp.get("/tokens")
def tokens():
    rows = list(db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))
    users_ = list(db.session.scalars(select(User).where(User.disabled.is_(False)).order_by(User.name)))
    return render_template("admin/tokens.html", tokens=rows, users=users_)


@bp.post("/tokens")
def token_create():
    form = request.form
    days = form.get("days", "").strip()
    try:
        owner = ops.get_user(form_id("user_id")) if form.get("user_id") else current_user._get_current_object()
        if days and not days.isdigit():
            raise AdminError(_("The lifetime must be a whole number of days."))
        row, secret = ops.create_token(owner, form.get("name", ""), days=int(days) if days else None, **who())
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.tokens"))
    return no_store(render_template("admin/token_created.html", t=row, secret=secret), 201)


@bp.post("/tokens/<int:token_id>/revoke")
def token_revoke(token_id: int):
    row = db.session.get(ApiToken, token_id) or abort(404, _("There is no such token."))
    return attempt(lambda: ops.revoke_token(row, **who()), "admin.tokens", _("Token revoked."))
