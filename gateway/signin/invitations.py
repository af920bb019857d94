"""One-time set-password links: invitations (a person added without a password) and resets.

A link carries 256 random bits; only their SHA-256 is stored (``Invitation.token_hash``).
It works once (the row is marked used in the same UPDATE that checks it was not) and
until it expires (``invitation_ttl``, ``reset_ttl``). A new link for a person replaces
their older unused ones. Setting the password goes through ``ops.set_password``:
its rules, its audit, and every login of that person ends.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, select, update

from .. import ops, tenancy
from ..extensions import db
from ..headers import external_url
from ..models import Invitation, User, audit, utcnow
from ..security import hash_token, new_token
from . import mail
from ..errors import InvitationError, MailError

INVITE, RESET = "invite", "reset"


def issue(user: User, purpose: str = INVITE, *, actor: str = "cli", ip: str = "") -> str:
    """A new one-time link token for ``user`` (shown once; commits)."""
    if user.signin_method != "local":
        raise ops.AdminError(f"{user.name} signs in with {user.signin_method}: there is no password to set here.")
    settings = current_app.config["PONTE"]
    ttl = settings.invitation_ttl if purpose == INVITE else settings.reset_ttl
    token = new_token(32)
    db.session.execute(delete(Invitation).where(Invitation.user_id == user.id, Invitation.used_at.is_(None)))
    db.session.add(Invitation(user_id=user.id, purpose=purpose, token_hash=hash_token(token), created_by=actor[:64],
                              expires_at=utcnow() + timedelta(seconds=ttl)))
    audit(f"{purpose}_link", actor=actor, ip=ip, target=user.name)
    db.session.commit()
    return token


def link(token: str) -> str:
    """The URL a person opens (``public_url``, or this request's allowed Host)."""
    return external_url(current_app.config["PONTE"]) + url_for("signin.set_password", link=token)


def find(token: str) -> Invitation | None:
    """The usable link of ``token``, or ``None`` (unknown, used, expired: never says which)."""
    if not token or len(token) > 128:
        return None
    with tenancy.across_organisations():   # any firm's link: the request then acts for its firm
        row = db.session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if row is None:
        return None
    tenancy.switch(row.organisation_id)
    return row if row is not None and row.usable and row.user.signin_method == "local" else None


def redeem(token: str, password: str, *, ip: str = "") -> User:
    """Set the password through the link of ``token``, once. ``InvitationError`` if the link does
    not work; ``ops.AdminError`` if the password breaks the rules (the link still works)."""
    row = find(token)
    if row is None:
        raise InvitationError(_("This link does not work: it was used already, has expired or never existed."))
    user = row.user
    claimed = db.session.execute(update(Invitation).where(Invitation.id == row.id, Invitation.used_at.is_(None))
                                 .values(used_at=utcnow()))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise InvitationError(_("This link does not work: it was used already, has expired or never existed."))
    try:
        ops.set_password(user, password, actor=user.name, ip=ip)   # commits the claim with the password
    except ops.AdminError:
        db.session.rollback()
        raise
    return user


def send_link(user: User, token: str, purpose: str = INVITE, *, wait: bool = True) -> bool:
    """Email the link to ``user`` when SMTP is configured and they have an address; True if sent.

    ``wait=False`` (the "forgot password" answer): hand it over in the background and
    return True, so the answer takes as long whether or not the account exists."""
    settings = current_app.config["PONTE"]
    if not mail.configured(settings) or not user.email:
        return False
    url = link(token)
    hours = round((settings.invitation_ttl if purpose == INVITE else settings.reset_ttl) / 3600)
    if purpose == INVITE:
        subject = "Your Ponte account"
        body = (f"Hello {user.display_name or user.name},\n\nan account on Ponte was made for you: user name "
                f"{user.name}.\nChoose your password here (the link works once, for {hours} hours):\n\n{url}\n")
    else:
        subject = "Reset your Ponte password"
        body = (f"Hello {user.display_name or user.name},\n\nsomeone asked to reset the password of {user.name} "
                f"on Ponte.\nIf it was you, choose a new one here (the link works once, for {hours} hours):\n\n"
                f"{url}\n\nIf it was not you, ignore this message: your password stays as it is.\n")
    if not wait:
        mail.send_later(settings, user.email, subject, body)
        return True
    try:
        mail.send(settings, user.email, subject, body)
    except MailError as exc:
        current_app.logger.warning("%s", exc)
        return False
    return True
