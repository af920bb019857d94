"""Login, logout and password confirmation for people; bearer tokens for scripts.

Admin changes need a *recent* login (``RECENT_LOGIN``): the time of the last
password entry is kept in the signed session and ``/reauth`` renews it.
Bearer API tokens (``Authorization: Bearer ponte_…``) are accepted on
``/api/`` only, carry no cookie, need no CSRF token and are exempt from the
recent-login rule (a script cannot type a password).
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from agents.protocol.text import clean

from . import refs
from .extensions import db, limiter, login_manager
from .models import User, audit, find_user
from .security import verify_password

bp = Blueprint("auth", __name__)

RECENT_LOGIN = 30 * 60  # seconds: admin changes need a password entered this recently
AUTH_AT = "ponte_auth_at"


class LoginForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class ReauthForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    record_id = refs.record_id(user_id)
    if record_id is None:
        return None
    user = db.session.get(User, record_id)
    return user if user is not None and not user.disabled else None


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    """``Authorization: Bearer <token>`` on the JSON API only."""
    if not req.path.startswith("/api/"):
        return None
    scheme, _, secret = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    from .machines import user_for_token

    found = user_for_token(secret.strip())
    if found is None:
        return None
    g.ponte_token = found[1]
    return found[0]


def via_token() -> bool:
    """True when this request is authenticated by a bearer token, not a cookie."""
    return g.get("ponte_token") is not None


def login_is_recent() -> bool:
    """A bearer token, or a password entered less than ``RECENT_LOGIN`` seconds ago."""
    if via_token():
        return True
    at = session.get(AUTH_AT)
    return isinstance(at, (int, float)) and 0 <= time.time() - at < RECENT_LOGIN


def actor() -> str:
    return current_user.name if current_user.is_authenticated else ""


def client_ip() -> str:
    return request.remote_addr or ""


def _scope() -> str:
    # Flask-Limiter keeps the key prefix of the first app it was bound to, so
    # each app (node settings, tests) scopes its own keys.
    return current_app.config["PONTE"].redis_prefix


def ip_key() -> str:
    """Rate-limit key: this gateway's client address."""
    return _scope() + "ip:" + (request.remote_addr or "")


def _login_limit() -> str:
    return current_app.config["PONTE"].login_limit


def _account_limit() -> str:
    # Counts failed logins only (see deduct_when), from any address: a person who
    # logs in often is never locked out, a guesser with many addresses is.
    return current_app.config["PONTE"].account_login_limit


def _login_name_key() -> str:
    return _scope() + "login-name:" + request.form.get("name", "").strip().lower()[:64]


def _reauth_key() -> str:
    return _scope() + "reauth:" + (str(current_user.get_id()) if current_user.is_authenticated
                                   else request.remote_addr or "")


def safe_next(target: str | None, default: str | None = None) -> str:
    # Only local paths: an open redirect after login is a phishing gift.
    if not target or urlsplit(target).netloc or urlsplit(target).scheme or not target.startswith("/") \
            or target.startswith("//") or "\\" in target:
        return default or url_for("portal.index")
    return target



@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=ip_key)
@limiter.limit(_account_limit, methods=["POST"], key_func=_login_name_key,
               deduct_when=lambda response: response.status_code != 302)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("portal.index"))
    form = LoginForm()
    if form.validate_on_submit():
        name = form.name.data.strip()
        user = find_user(name)
        ok = verify_password(user.password_hash if user else None, form.password.data)
        if ok and user is not None and not user.disabled:
            login_user(user)
            session[AUTH_AT] = time.time()
            audit("login", actor=user.name, ip=client_ip())
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
        # The typed name is anyone's text: no control characters into the audit log.
        audit("login_failed", actor=clean(name, 64), ip=client_ip(),
              detail="disabled account" if ok else "wrong name or password")
        db.session.commit()
        flash("Wrong user name or password.", "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.route("/reauth", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per minute", methods=["POST"], key_func=_reauth_key)
def reauth():
    """Confirm the password before admin changes (a login older than 30 minutes)."""
    form = ReauthForm()
    target = safe_next(request.args.get("next"), url_for("portal.index"))
    if form.validate_on_submit():
        if verify_password(current_user.password_hash, form.password.data):
            session[AUTH_AT] = time.time()
            audit("reauth", actor=current_user.name, ip=client_ip())
            db.session.commit()
            return redirect(target)
        audit("reauth_failed", actor=current_user.name, ip=client_ip(), detail="wrong password")
        db.session.commit()
        flash("That password is not right.", "error")
        return render_template("auth/reauth.html", form=form, target=target), 401
    return render_template("auth/reauth.html", form=form, target=target)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    audit("logout", actor=current_user.name, ip=client_ip())
    db.session.commit()
    logout_user()
    session.pop(AUTH_AT, None)
    return redirect(url_for("auth.login"))
