"""Public pages of onboarding: ``/invite/<link>`` (choose a password) and ``/forgot``.

``/forgot`` exists only when SMTP is configured (else 404), and answers every
request with the same sentence, whether or not the account exists, has an
address or signs in another way.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from .. import ops
from ..auth import client_ip, ip_key
from ..extensions import db, limiter
from ..models import User, audit, find_user
from . import invitations, mail
from ..errors import InvitationError
from ..i18n import noop as _n

bp = Blueprint("signin", __name__)

FORGOT_ANSWER = _n("If that account exists and has an email address, a link to choose a new password "
                 "is on its way. It works once, for a short while.")


@bp.route("/invite/<link>", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"], key_func=ip_key)
def set_password(link: str):
    """Choose a password through a one-time link (an invitation or a reset)."""
    row = invitations.find(link)
    if row is None:
        return render_template("signin/link_dead.html"), 404
    user = row.user
    if request.method == "POST":
        password, again = request.form.get("password", ""), request.form.get("again", "")
        if password != again:
            flash(_("The two passwords are not the same."), "error")
            return render_template("signin/set_password.html", user=user, purpose=row.purpose), 400
        try:
            invitations.redeem(link, password, ip=client_ip())
        except ops.AdminError as exc:
            flash(str(exc), "error")
            return render_template("signin/set_password.html", user=user, purpose=row.purpose), 400
        except InvitationError:
            return render_template("signin/link_dead.html"), 404
        flash(_("Your password is set. Log in with it now."), "ok")
        return redirect(url_for("auth.login"))
    return render_template("signin/set_password.html", user=user, purpose=row.purpose)


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit("5 per 15 minutes", methods=["POST"], key_func=ip_key)
def forgot():
    """Ask for a reset link by email (only when the gateway can send mail)."""
    if not mail.configured(current_app.config["PONTE"]):
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("portal.index"))
    if request.method == "POST":
        typed = request.form.get("name", "").strip()[:255]
        user = _account(typed)
        if user is not None and not user.disabled and user.signin_method == "local" and user.email:
            token = invitations.issue(user, invitations.RESET, actor=user.name, ip=client_ip())
            invitations.send_link(user, token, invitations.RESET, wait=False)
        else:
            audit("reset_refused", ip=client_ip(), target=typed[:128],
                  detail="unknown, disabled, without email or not a local account")
            db.session.commit()
        flash(_(FORGOT_ANSWER), "ok")
        return redirect(url_for("signin.forgot"))
    return render_template("signin/forgot.html")


def _account(typed: str) -> User | None:
    """The account a person means by ``typed``: their user name, or their email address if one
    account (exactly) has it."""
    if not typed:
        return None
    user = find_user(typed)
    if user is None and "@" in typed:
        found = list(db.session.scalars(select(User).where(func.lower(User.email) == typed.lower()).limit(2)))
        user = found[0] if len(found) == 1 else None
    return user
