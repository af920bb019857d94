"""The login steps after the password: the second factor, passkey sign-in, forced set-up.

After a correct password ``auth.login`` calls ``hold``:

- a person with a factor is *not* logged in: the Flask session holds a pending
  login (``PENDING``: user id, epoch, time, where to go) for ``PENDING_TTL``
  seconds, and ``/login/second-factor`` asks for a TOTP code, a recovery code
  or a passkey. Wrong codes count towards the login limits (``auth.throttle``)
  and the per-address ``login_limit`` like wrong passwords;
- a person the policy requires to have a factor, who has none, is logged in
  with ``SETUP`` in the session: ``guard`` sends every page but ``/account``
  (and logout) there until a factor is on;
- anyone else: ``hold`` returns None and the login completes as before.

Where the admin allows, ``/login/passkey`` signs in with a passkey alone
(user verification required).
"""

from __future__ import annotations

import time

import gevent
from flask import (Blueprint, current_app, flash, jsonify, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _, lazy_gettext as _l, ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from agents.protocol.text import clean

from .. import auth
from ..database import UNAVAILABLE
from ..extensions import db, limiter
from ..models import User, audit
from . import manage, passkeys, policy, recovery, totp
from ..errors import FactorError, WrongCode

bp = Blueprint("second_factor", __name__)

PENDING = "ponte_pending_login"
SETUP = "ponte_factor_setup"
PENDING_TTL = 300   # seconds between the password and the second factor
#: What a person under the policy without a factor may still reach.
SETUP_ALLOWED = frozenset({"auth.logout", "auth.logout_everywhere", "portal.assets", "portal.healthz", "static"})


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=64)])


def hold(user: User, target: str):
    """Called after a correct password: a redirect to the next step, or None (log in now)."""
    if policy.has_factor(user):
        auth._clear_session()
        session[PENDING] = {"user": user.id, "epoch": user.session_epoch, "at": time.time(), "next": target}
        return redirect(url_for("second_factor.second_factor"))
    if policy.required_for(user):
        return finish(user, target, "login")
    return None


def finish(user: User, target: str, action: str, detail: str = ""):
    """Log ``user`` in (a fresh session), audited as ``action``; to set-up if the policy needs it."""
    auth._start_login(user)
    audit(action, actor=user.name, ip=auth.client_ip(), detail=detail)
    db.session.commit()
    if policy.required_for(user) and not policy.has_factor(user):
        session[SETUP] = True   # the account page says why
        return redirect(url_for("account.index"))
    return redirect(target)


def use_code(user: User, typed: str) -> str:
    """Spend what the person typed, a TOTP code or a recovery code (caller commits): which it was,
    or ``WrongCode``. Also the factor step of ``/reauth`` (``factors.reauth``)."""
    typed = typed.strip()
    if totp.normalise(typed) == typed.replace(" ", "") and len(totp.normalise(typed)) == totp.DIGITS:
        found = manage.totp_factor(user)
        if found is None or found.confirmed_at is None:
            raise WrongCode(_("You have no authenticator app: use a passkey or a recovery code."))
        totp.use_code(found, typed)
        return "authenticator app"
    recovery.use_code(user, typed)
    return "recovery code"


def pending_user() -> tuple[User | None, str]:
    """The person between password and second factor, and where they were going."""
    held = session.get(PENDING)
    if not isinstance(held, dict):
        return None, ""
    at = held.get("at")
    if not isinstance(at, (int, float)) or not 0 <= time.time() - at < PENDING_TTL:
        session.pop(PENDING, None)
        return None, ""
    user = db.session.get(User, held.get("user")) if isinstance(held.get("user"), int) else None
    if user is None or user.disabled or user.session_epoch != held.get("epoch"):
        session.pop(PENDING, None)
        return None, ""
    return user, auth.safe_next(held.get("next"))


def _expired():
    flash(_("Log in again: the step after your password has to happen within 5 minutes."), "error")
    return redirect(url_for("auth.login"))


def _refused(user: User, retry_after: int):
    minutes = max(1, round(retry_after / 60))
    flash(ngettext("Too many failed logins for this account from your network. Try again in %(num)d minute.",
                   "Too many failed logins for this account from your network. Try again in %(num)d minutes.",
                   minutes), "error")
    resp = current_app.make_response((_page(user, CodeForm()), 429))
    resp.headers["Retry-After"] = str(retry_after)
    return resp


def _page(user: User, form: CodeForm) -> str:
    return render_template("account/second_factor.html", form=form, user=user,
                           totp_on=manage.totp_on(user), has_passkeys=bool(manage.passkeys(user)))


def _count_failure(user: User, detail: str) -> None:
    audit("login_second_factor_failed", actor=user.name, ip=auth.client_ip(), detail=detail)
    for trip in auth.throttle().failed(auth.account_key(user.name), auth.client_ip()):
        audit("login_throttled", ip=auth.client_ip(), target=trip.account[:128], detail=trip.detail)
    db.session.commit()


@bp.route("/login/second-factor", methods=["GET", "POST"])
@limiter.limit(auth._login_limit, methods=["POST"], key_func=auth.ip_key, deduct_when=auth._failed)
def second_factor():
    user, target = pending_user()
    if user is None:
        return _expired()
    form = CodeForm()
    if not form.validate_on_submit():
        return _page(user, form)
    verdict = auth.throttle().check(auth.account_key(user.name), auth.client_ip())
    if verdict.refused:
        return _refused(user, verdict.retry_after)
    if verdict.delay:
        gevent.sleep(verdict.delay)
    try:
        how = use_code(user, form.code.data)
    except WrongCode as exc:
        _count_failure(user, "wrong code")
        flash(str(exc), "error")
        return _page(user, form), 401
    response = finish(user, target, "login", detail=f"second factor: {how}")
    if how == "recovery code":
        left = recovery.remaining(user)
        flash(ngettext("You used a recovery code; %(num)d left. Make new ones on your account page if you run low.",
                       "You used a recovery code; %(num)d left. Make new ones on your account page if you run low.",
                       left), "info")
    return response


@bp.post("/login/passkey/options")
@limiter.limit(auth._login_limit, key_func=auth.ip_key)
def passkey_options():
    """Options for a passkey assertion: the pending person's passkeys, or (passkey sign-in
    allowed) any discoverable one."""
    user, _ = pending_user()
    if user is None and not policy.current().passkey_login:
        return jsonify(error={"code": "forbidden", "message": "Log in with your password first."}), 403
    return current_app.response_class(passkeys.authentication_options(user), mimetype="application/json")


@bp.post("/login/passkey")
@limiter.limit(auth._login_limit, key_func=auth.ip_key, deduct_when=lambda r: r.status_code != 200)
def passkey_login():
    """Verify a passkey assertion: as second factor (pending login) or instead of the password."""
    user, target = pending_user()
    if user is None and not policy.current().passkey_login:
        return jsonify(error={"code": "forbidden", "message": "Log in with your password first."}), 403
    if user is not None:
        verdict = auth.throttle().check(auth.account_key(user.name), auth.client_ip())
        if verdict.refused:
            return jsonify(error={"code": "too_many", "message": "Too many failed logins; try later."}), 429
    try:
        found = passkeys.verify_authentication(user, passkeys.parse(request.get_data()))
    except FactorError as exc:
        if user is not None:
            _count_failure(user, "passkey refused")
        else:
            audit("login_failed", ip=auth.client_ip(), detail="passkey refused")
            db.session.commit()
        return jsonify(error={"code": "passkey_refused", "message": str(exc)}), 401
    owner = db.session.get(User, found.user_id)
    if owner is None or owner.disabled:
        db.session.rollback()
        return jsonify(error={"code": "passkey_refused", "message": "That passkey is not registered here."}), 401
    db.session.commit()
    detail = f"second factor: passkey {clean(found.name, 64)}" if user else f"passkey {clean(found.name, 64)}"
    response = finish(owner, target or auth.safe_next(request.args.get("next")),
                      "login" if user else "login_passkey", detail=detail)
    return jsonify(next=response.headers["Location"])


@bp.before_app_request
def guard():
    """People under the policy without a factor may only set one up (or log out)."""
    if not session.get(SETUP) or request.endpoint in SETUP_ALLOWED or \
            (request.blueprint in ("account", "second_factor")):
        return None
    if not current_user.is_authenticated or auth.via_token():
        return None
    if policy.has_factor(current_user) or not policy.required_for(current_user):
        session.pop(SETUP, None)
        return None
    if request.path.startswith("/api/"):
        return jsonify(error={"code": "second_factor_required",
                              "message": "Set up a second factor on your account page first."}), 403
    return redirect(url_for("account.index"))


def _passkey_login_allowed() -> bool:
    # The login form must render without the database (issue 8): no button then; the login
    # itself says the database is unreachable.
    try:
        return policy.current().passkey_login
    except UNAVAILABLE:
        db.session.rollback()
        return False


@bp.app_context_processor
def _login_page_facts():
    return {"passkey_login_allowed": _passkey_login_allowed}
