"""The person's own factor pages, on the ``account`` blueprint (``/account/...``).

Turning a factor off and making new recovery codes need the current password
typed again; turning one on needs a correct code (TOTP) or a verified passkey.
Recovery codes are shown once, on a page that is not cached.
"""

from __future__ import annotations

from flask import current_app, flash, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..account import bp
from ..auth import client_ip
from ..extensions import db, limiter
from ..models import audit
from ..security import new_token, verify_password
from . import manage, passkeys, totp
from ..errors import FactorError, SealError
from .login import SETUP
from .manage import keep_this_login


class ConfirmForm(FlaskForm):
    code = StringField(_l("Code from the app"), validators=[DataRequired(), Length(max=16)])


class PasswordCheckForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=1024)])


def _me():
    return current_user._get_current_object()


def _user_key() -> str:
    from ..auth import _scope

    return _scope() + "account-factor:" + str(current_user.get_id())


def _codes_page(codes: list[str], heading: str):
    resp = make_response(render_template("account/recovery_codes.html", codes=codes, heading=heading))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _password_ok() -> bool:
    form = PasswordCheckForm()
    if form.validate_on_submit() and verify_password(_me().password_hash, form.password.data):
        return True
    audit("factor_password_failed", actor=_me().name, ip=client_ip(), target=_me().name)
    db.session.commit()
    flash(_("Your password is not right: nothing was changed."), "error")
    return False


@bp.post("/totp/start")
def totp_start():
    try:
        manage.start_totp(_me())
    except FactorError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.index"))
    return redirect(url_for("account.totp_setup"))


@bp.route("/totp/setup", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"], key_func=_user_key)
def totp_setup():
    """The QR code, the secret as text, and a field for the first code."""
    user = _me()
    found = manage.totp_factor(user)
    if found is None or found.confirmed_at is not None:
        return redirect(url_for("account.index"))
    form = ConfirmForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = manage.confirm_totp(user, form.code.data, ip=client_ip())
        except FactorError as exc:
            flash(str(exc), "error")
            status = 400
        else:
            keep_this_login(user)
            session.pop(SETUP, None)
            return _codes_page(codes, "Your authenticator app is on")
    try:
        secret = totp.secret_of(found)
    except SealError:   # sealed under an earlier instance secret: nothing confirmed yet, so renew
        secret = totp.secret_of(manage.start_totp(user))
    uri = totp.provisioning_uri(secret, user.name)
    resp = make_response(render_template("account/totp_setup.html", form=form, secret=secret,
                                         qr=totp.qr_svg(uri), uri=uri), status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/totp/off")
@limiter.limit("10 per minute", key_func=_user_key)
def totp_off():
    if not _password_ok():
        return redirect(url_for("account.index"))
    manage.turn_off_totp(_me(), actor=_me().name, ip=client_ip())
    keep_this_login(_me())
    flash(_("Your authenticator app is off. Every other login of yours has ended."), "ok")
    return redirect(url_for("account.index"))


@bp.post("/recovery")
@limiter.limit("10 per minute", key_func=_user_key)
def recovery_new():
    if not _password_ok():
        return redirect(url_for("account.index"))
    try:
        codes = manage.new_recovery_codes(_me(), ip=client_ip())
    except FactorError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.index"))
    return _codes_page(codes, "New recovery codes")


# -- passkeys (JSON for passkeys.js, forms for the rest) --------------------------------------------

def _json_error(status: int, message: str):
    return jsonify(error={"code": "passkey_refused", "message": message}), status


@bp.post("/passkeys/options")
@limiter.limit("20 per minute", key_func=_user_key)
def passkey_options():
    return current_app.response_class(passkeys.registration_options(_me()), mimetype="application/json")


@bp.post("/passkeys")
@limiter.limit("20 per minute", key_func=_user_key)
def passkey_add():
    """Verify and store a new passkey (JSON ``{"name": ..., "credential": {...}}``)."""
    user = _me()
    try:
        body = passkeys.parse(request.get_data())
        name = manage.check_name(body.get("name") if isinstance(body.get("name"), str) else "")
        credential = body.get("credential")
        if not isinstance(credential, dict):
            raise FactorError(_("The browser's answer was not readable."))
        record = passkeys.verify_registration(user, credential, name)
    except FactorError as exc:
        return _json_error(400, str(exc))
    codes = manage.add_passkey(user, record, ip=client_ip())
    keep_this_login(user)
    session.pop(SETUP, None)
    if codes:
        _hand_over(codes)
        return jsonify(next=url_for("account.recovery_show"))
    flash(_("Passkey “%(name)s” added. Every other login of yours has ended.", name=name), "ok")
    return jsonify(next=url_for("account.index"))


@bp.get("/recovery/new")
def recovery_show():
    """Recovery codes made with a first passkey, shown once (then gone from the session)."""
    codes = _take_over()
    if not codes:
        return redirect(url_for("account.index"))
    return _codes_page(codes, "Your passkey is on")


#: The session cookie is signed, not encrypted: codes wait in Redis, the cookie holds a handle.
HANDOVER = "ponte_new_codes"
HANDOVER_TTL = 300


def _handover_key(handle: str) -> str:
    return current_app.config["PONTE"].redis_prefix + "new-codes:" + handle


def _hand_over(codes: list[str]) -> None:
    handle = new_token(16)
    current_app.extensions["ponte.redis"].set(_handover_key(handle), "\n".join(codes), ex=HANDOVER_TTL)
    session[HANDOVER] = handle


def _take_over() -> list[str]:
    handle = session.pop(HANDOVER, None)
    if not isinstance(handle, str):
        return []
    raw = current_app.extensions["ponte.redis"].getdel(_handover_key(handle))
    return (raw.decode() if isinstance(raw, bytes) else raw or "").split("\n") if raw else []


def _passkey_id() -> int | None:
    raw = request.form.get("passkey_id", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else None


@bp.post("/passkeys/rename")
def passkey_rename():
    try:
        manage.rename_passkey(_me(), _passkey_id() or 0, request.form.get("name", ""))
    except FactorError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Passkey renamed."), "ok")
    return redirect(url_for("account.index"))


@bp.post("/passkeys/remove")
@limiter.limit("10 per minute", key_func=_user_key)
def passkey_remove():
    if not _password_ok():
        return redirect(url_for("account.index"))
    try:
        manage.remove_passkey(_me(), _passkey_id() or 0, ip=client_ip())
    except FactorError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.index"))
    keep_this_login(_me())
    flash(_("Passkey removed. Every other login of yours has ended."), "ok")
    return redirect(url_for("account.index"))
