"""Login and logout for people (Flask-Login, rate-limited, audited)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from .extensions import db, limiter, login_manager
from .models import User, audit, find_user
from .security import verify_password

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and not user.disabled else None


def _login_name_key() -> str:
    return "login-name:" + request.form.get("name", "").strip().lower()[:64]


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after login is a phishing gift.
    if not target or urlsplit(target).netloc or urlsplit(target).scheme or not target.startswith("/") \
            or target.startswith("//"):
        return url_for("portal.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["PONTE"].login_limit, methods=["POST"])
@limiter.limit(lambda: current_app.config["PONTE"].account_login_limit, methods=["POST"],
               key_func=_login_name_key, deduct_when=lambda response: response.status_code != 302)
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
            audit("login", actor=user.name, ip=request.remote_addr or "")
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        audit("login_failed", actor=name[:64], ip=request.remote_addr or "",
              detail="disabled account" if ok else "wrong name or password")
        db.session.commit()
        flash("Wrong user name or password.", "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    audit("logout", actor=current_user.name, ip=request.remote_addr or "")
    db.session.commit()
    logout_user()
    return redirect(url_for("auth.login"))
