"""The factor step of ``/reauth`` for people with a second factor.

The recent-login rule (``auth.reauth``: admin changes need a login younger than
30 minutes) would be weaker than the login itself if a password alone renewed
it: whoever learnt the password and found a logged-in browser could act as the
admin. So for a person with a factor a correct password at ``/reauth`` only
starts a pending confirmation (``PENDING``: user id, epoch, time, where to go,
for ``login.PENDING_TTL`` seconds), and ``/reauth/second-factor`` asks for a
TOTP code, a recovery code or a passkey before the login time is renewed.
People who sign in through OpenID Connect confirm at the provider instead
(``signin.oidc``). Failures are audited as ``reauth_failed`` and rate limited
per person like the password step.
"""

from __future__ import annotations

import time

from flask import current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from agents.protocol.text import clean

from .. import auth
from ..extensions import db, limiter
from ..models import User, audit
from . import manage, passkeys, policy
from ..errors import FactorError, WrongCode
from .login import PENDING_TTL, CodeForm, bp, use_code

PENDING = "ponte_pending_reauth"


def hold(user: User, target: str):
    """Called after a correct password at ``/reauth``: the factor step, or None (renew now)."""
    if not policy.has_factor(user):
        return None
    session[PENDING] = {"user": user.id, "epoch": user.session_epoch, "at": time.time(), "next": target}
    return redirect(url_for("second_factor.reauth_factor"))


def _pending() -> str | None:
    """Where the pending confirmation of the logged-in person goes; None if there is none (any more)."""
    held = session.get(PENDING)
    me = current_user._get_current_object()
    at = held.get("at") if isinstance(held, dict) else None
    if not isinstance(at, (int, float)) or not 0 <= time.time() - at < PENDING_TTL \
            or held.get("user") != me.id or held.get("epoch") != me.session_epoch:
        session.pop(PENDING, None)
        return None
    return auth.safe_next(held.get("next"))


def _renew(how: str) -> str:
    target = session.pop(PENDING, {}).get("next")
    session[auth.AUTH_AT] = time.time()
    audit("reauth", actor=current_user.name, ip=auth.client_ip(), detail=f"second factor: {how}")
    db.session.commit()
    return auth.safe_next(target)


def _failed(detail: str) -> None:
    audit("reauth_failed", actor=current_user.name, ip=auth.client_ip(), detail=detail)
    db.session.commit()


def _start_again():
    flash(_("Confirm your password again: the second step has to follow within 5 minutes."), "error")
    return redirect(url_for("auth.reauth"))


def _no_password_yet():
    # 409, not 403: nothing is forbidden to this person, the password step has to come first.
    return jsonify(error={"code": "password_first", "message": "Confirm your password first."}), 409


def _page(form: CodeForm):
    me = current_user._get_current_object()
    return render_template("auth/reauth_factor.html", form=form, totp_on=manage.totp_on(me),
                           has_passkeys=bool(manage.passkeys(me)))


@bp.route("/reauth/second-factor", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per minute", methods=["POST"], key_func=auth._reauth_key)
def reauth_factor():
    """The code (or passkey) after the password at ``/reauth``."""
    if _pending() is None:
        return _start_again()
    form = CodeForm()
    if not form.validate_on_submit():
        return _page(form)
    try:
        how = use_code(current_user._get_current_object(), form.code.data)
    except WrongCode as exc:
        _failed("wrong code")
        flash(str(exc), "error")
        return _page(form), 401
    return redirect(_renew(how))


@bp.post("/reauth/passkey/options")
@login_required
@limiter.limit("10 per minute", key_func=auth._reauth_key)
def reauth_passkey_options():
    if _pending() is None:
        return _no_password_yet()
    return current_app.response_class(passkeys.authentication_options(current_user._get_current_object()),
                                      mimetype="application/json")


@bp.post("/reauth/passkey")
@login_required
@limiter.limit("10 per minute", key_func=auth._reauth_key)
def reauth_passkey():
    if _pending() is None:
        return _no_password_yet()
    try:
        found = passkeys.verify_authentication(current_user._get_current_object(),
                                               passkeys.parse(request.get_data()))
    except FactorError as exc:
        _failed("passkey refused")
        return jsonify(error={"code": "passkey_refused", "message": str(exc)}), 401
    return jsonify(next=_renew(f"passkey {clean(found.name, 64)}"))
