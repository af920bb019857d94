"""Sign-up requests: made, confirmed, decided by the provider (or by the automatic setting).

Audited and committed like ``gateway/ops``' operations, whose errors they raise; confirming,
approving and refusing in the provider's log (``_as_provider``). Approval makes the firm
(``ops.organisations.create_organisation``), then, acting for it (``tenancy``), its first admin
without a password (``signin.accounts.add_invited_user``) and the invitation link, mailed
through the outbox in the language the firm asked in.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, url_for
from flask_babel import force_locale, gettext as _
from sqlalchemy import select, update

from .. import tenancy
from ..errors import Conflict, NotFound
from ..extensions import db
from ..headers import external_url
from ..models import DEFAULT_ORGANISATION, GlobalSetting, SignupRequest, User, audit, find_user, utcnow
from ..ops.naming import NAME_MAX
from ..ops.organisations import create_organisation, slugify
from ..security import hash_token, new_token
from ..signin import invitations
from ..signin.accounts import add_invited_user
from .outbox import outbox

#: The provider's switch: confirmed requests are approved at once, without the queue.
AUTO_APPROVE = "signup_auto_approve"
#: What the provider's queue shows of the decided requests.
RECENT = 20


def may_run_provider(user) -> bool:
    """Who runs the provider's side (the queue of firms): its operators, people of the default
    organisation (as for gateway/provider.py's page of organisations)."""
    return bool(getattr(user, "is_authenticated", False) and user.is_operator and not user.disabled
                and user.organisation_id == DEFAULT_ORGANISATION)


def _as_provider():
    """Write the provider's rows (its log is the default organisation's, as for
    ``ops.organisations``) whoever's request runs the step: an automatic approval runs in the
    visitor's, which acts for the firm whose ``/o/<slug>/`` page or host name it came through
    (``orgcontext``), and that firm's admins must not read other firms' sign-ups."""
    return tenancy.acting_for(DEFAULT_ORGANISATION)


def auto_approve() -> bool:
    row = db.session.get(GlobalSetting, AUTO_APPROVE)
    return row is not None and row.value == "on"


def set_auto_approve(on: bool, *, actor: str, ip: str = "") -> None:
    row = db.session.get(GlobalSetting, AUTO_APPROVE) or GlobalSetting(key=AUTO_APPROVE)
    row.value, row.updated_at, row.updated_by = ("on" if on else "off"), utcnow(), actor[:64]
    db.session.add(row)
    audit("setting_change", actor=actor, ip=ip, target=AUTO_APPROVE, detail=row.value)
    db.session.commit()


def submit(*, firm: str, contact: str, email: str, pcs: int, language: str, ip: str) -> tuple[SignupRequest, bool]:
    """Record a request and queue its confirmation mail: (the request, whether the mail was
    queued). Fields are checked by the caller (``views.read_form``)."""
    settings = current_app.config["PONTE"]
    token = new_token(32)
    row = SignupRequest(firm_name=firm, contact_name=contact, email=email, pcs=pcs, language=language,
                        client_ip=ip[:64], token_hash=hash_token(token),
                        expires_at=utcnow() + timedelta(seconds=settings.signup_confirm_ttl))
    db.session.add(row)
    db.session.commit()
    link = external_url(settings) + url_for("signup.confirm", link=token)
    hours = round(settings.signup_confirm_ttl / 3600)
    with force_locale(language):
        subject = _("Confirm your request for Ponte")
        body = _("Hello %(contact)s,\n\nsomeone asked for access to Ponte for the firm %(firm)s with this "
                 "address.\nIf it was you, confirm the request here (the link works for %(hours)s hours):\n\n"
                 "%(link)s\n\nIf it was not you, ignore this message: nothing else will happen.\n",
                 contact=contact, firm=firm, hours=hours, link=link)
    return row, outbox(current_app).post(email, subject, body)


def find_unconfirmed(token: str) -> SignupRequest | None:
    """The request whose confirmation link is ``token``, while it works; else None (never says why)."""
    if not token or len(token) > 128:
        return None
    row = db.session.scalar(select(SignupRequest).where(SignupRequest.token_hash == hash_token(token)))
    if row is None or row.status != "unconfirmed" or row.expires_at <= utcnow():
        return None
    return row


def confirm(token: str, *, ip: str = "") -> SignupRequest | None:
    """Confirm the address of a request, once; approve it at once when the setting says so."""
    row = find_unconfirmed(token)
    if row is None:
        return None
    claimed = db.session.execute(update(SignupRequest).where(SignupRequest.id == row.id,
                                                             SignupRequest.status == "unconfirmed")
                                 .values(status="confirmed", confirmed_at=utcnow(), token_hash=None))
    if claimed.rowcount != 1:
        db.session.rollback()
        return None
    with _as_provider():
        audit("signup_confirmed", actor=row.email[:64], ip=ip, target=f"signup:{row.id}", detail=row.firm_name)
        db.session.commit()
    db.session.refresh(row)
    if auto_approve():
        approve(row, actor="auto-approval", ip=ip)
    return row


def queue() -> tuple[list[SignupRequest], list[SignupRequest]]:
    """(confirmed requests awaiting a decision, oldest first; the latest decided ones)."""
    waiting = list(db.session.scalars(select(SignupRequest).where(SignupRequest.status == "confirmed")
                                      .order_by(SignupRequest.confirmed_at, SignupRequest.id)))
    decided = list(db.session.scalars(select(SignupRequest)
                                      .where(SignupRequest.status.in_(("approved", "refused")))
                                      .order_by(SignupRequest.decided_at.desc()).limit(RECENT)))
    return waiting, decided


def get_request(request_id: int) -> SignupRequest:
    row = db.session.get(SignupRequest, request_id)
    if row is None:
        raise NotFound(f"no sign-up request {request_id}")
    return row


def _claim(row: SignupRequest, status: str, actor: str) -> None:
    """Move ``row`` from confirmed to ``status`` in one UPDATE: two decisions at once, one wins."""
    claimed = db.session.execute(update(SignupRequest).where(SignupRequest.id == row.id,
                                                             SignupRequest.status == "confirmed")
                                 .values(status=status, decided_at=utcnow(), decided_by=actor[:64]))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise Conflict(_("This request was decided already, or is not confirmed."))


def _admin_name(email: str, slug: str) -> str:
    """The first admin's user name: their e-mail address (what they remember), or
    ``<slug>-admin`` when it is too long or taken."""
    for candidate in (email.lower(), f"{slug}-admin"):
        if len(candidate) <= NAME_MAX and find_user(candidate) is None:
            return candidate
    n = 2
    while find_user(f"{slug}-admin-{n}") is not None:
        n += 1
    return f"{slug}-admin-{n}"


def approve(row: SignupRequest, *, actor: str, ip: str = "") -> tuple[User, bool]:
    """Make the firm and its first admin, and mail them the invitation: (the admin, mail queued).
    The firm's PC limit starts at the number of PCs it asked for."""
    with _as_provider():
        _claim(row, "approved", actor)
        org = create_organisation(row.firm_name, language=row.language, max_pcs=row.pcs, actor=actor, ip=ip)
    with tenancy.acting_for(org.id):
        user = add_invited_user(_admin_name(row.email, slugify(row.firm_name)), email=row.email,
                                display_name=row.contact_name, admin=True, actor=actor, ip=ip)
        # Until the data layer stamps rows with the acting organisation, say it here.
        user.organisation_id = org.id
        row.organisation_id = org.id
        detail = f"organisation {org.slug}, first admin {user.name}"
        # In the new firm's log (who let it in), and below in the provider's.
        audit("signup_approved", actor=actor, ip=ip, target=f"signup:{row.id}", detail=detail)
        db.session.commit()
        token = invitations.issue(user, actor=actor, ip=ip)
    with _as_provider():
        audit("signup_approved", actor=actor, ip=ip, target=f"signup:{row.id}", detail=detail)
        db.session.commit()
    settings = current_app.config["PONTE"]
    hours = round(settings.invitation_ttl / 3600)
    with force_locale(row.language):
        subject = _("Your firm is on Ponte")
        body = _("Hello %(contact)s,\n\nthe request of %(firm)s was approved. You are its first admin: "
                 "user name %(name)s.\nChoose your password here (the link works once, for %(hours)s hours):"
                 "\n\n%(link)s\n", contact=row.contact_name, firm=row.firm_name, name=user.name, hours=hours,
                 link=invitations.link(token))
        # the firm's people sign in at its own address: the default /login is the default firm's
        body += "\n" + _("Your firm's login page, for you and your people: %(url)s",
                         url=external_url(settings) + url_for("auth.org_login", slug=org.slug)) + "\n"
    return user, outbox(current_app).post(row.email, subject, body)


def refuse(row: SignupRequest, *, actor: str, ip: str = "") -> None:
    """Refuse the request (nothing is made); audited in the provider's log."""
    with _as_provider():
        _claim(row, "refused", actor)
        audit("signup_refused", actor=actor, ip=ip, target=f"signup:{row.id}", detail=row.firm_name)
        db.session.commit()


def expire_unconfirmed() -> int:
    """Mark the requests whose confirmation link ran out as expired (their link forgotten)."""
    done = db.session.execute(update(SignupRequest).where(SignupRequest.status == "unconfirmed",
                                                          SignupRequest.expires_at <= utcnow())
                              .values(status="expired", token_hash=None))
    db.session.commit()
    return done.rowcount
