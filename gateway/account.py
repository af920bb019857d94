"""A person's own account page ``/account``: password, second factors, logins and sessions.

The factor routes live in ``gateway.factors.views`` on this blueprint. A change of
password or of a factor ends every other login of the person (session epoch) and
their live remote sessions; this browser stays logged in.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from . import ops
from . import sessions
from .auth import AUTH_AT, LOGIN_AT, client_ip
from .extensions import db, limiter
from .factors import manage, policy, recovery
from .factors.manage import keep_this_login
from .ops import AdminError
from .models import AuditEvent, audit
from .security import verify_password

bp = Blueprint("account", __name__, url_prefix="/account")

#: Login events of the person shown on the page.
RECENT_LOGINS = 10
LOGIN_ACTIONS = ("login", "login_passkey", "login_failed", "login_second_factor_failed")


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    repeat = PasswordField(_l("New password again"), validators=[DataRequired(), Length(max=1024)])


def _user_key() -> str:
    from .auth import _scope

    return _scope() + "account:" + str(current_user.get_id())


@bp.before_request
@login_required
def _logged_in():
    return None


def _utc(epoch) -> datetime | None:
    if not isinstance(epoch, (int, float)):
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def page(password_form: PasswordForm | None = None, status: int = 200, **extra):
    """The account page; the factor views render it too, with their own extras."""
    user = current_user._get_current_object()
    live = [s for s in sessions.live().live_sessions() if str(s.get("user_id")) == str(user.id)]
    logins = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(LOGIN_ACTIONS), (AuditEvent.actor == user.name) | (AuditEvent.target == user.name))
        .order_by(AuditEvent.id.desc()).limit(RECENT_LOGINS)).all()
    found = manage.totp_factor(user)
    context = {
        "password_form": password_form or PasswordForm(),
        "login_at": _utc(session.get(LOGIN_AT)), "ip": client_ip(), "live": live, "logins": logins,
        "totp_on": found is not None and found.confirmed_at is not None,
        "passkeys": manage.passkeys(user), "recovery_left": recovery.remaining(user),
        "required": policy.required_for(user), "has_factor": policy.has_factor(user),
        "policy": policy.current(),
        **extra,
    }
    return render_template("account/index.html", **context), status


@bp.get("")
def index():
    return page()


@bp.post("/password")
@limiter.limit("10 per minute", key_func=_user_key)
def password():
    """Change one's own password: the current one first; other logins end, this one goes on."""
    form = PasswordForm()
    user = current_user._get_current_object()
    if not form.validate_on_submit():
        flash(_("Fill in all three fields."), "error")
        return page(form, 400)
    if not verify_password(user.password_hash, form.current.data):
        audit("user_passwd_failed", actor=user.name, ip=client_ip(), target=user.name, detail="wrong current password")
        db.session.commit()
        flash(_("Your current password is not right."), "error")
        return page(form, 401)
    if form.new.data != form.repeat.data:
        flash(_("The two new passwords differ."), "error")
        return page(form, 400)
    try:
        ops.set_password(user, form.new.data, actor=user.name, ip=client_ip())
    except AdminError as exc:
        flash(str(exc), "error")
        return page(form, 400)
    keep_this_login(user)
    session[AUTH_AT] = time.time()   # the password was just typed
    flash(_("Your password is changed. Every other login of yours has ended."), "ok")
    return redirect(url_for("account.index"))
