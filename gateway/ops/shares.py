"""Share links: a guest without an account watches or controls one PC for a while (issue 14).

Who may create one: an admin for any PC; a person granted the PC when the
global setting ``share_links`` is on (``sharing_allowed``). A link is shown
once; only the SHA-256 of its secret is kept. Its uses (one per guest who
pressed "Open") are counted by one conditional UPDATE, so two guests racing
for the last use cannot both win. Revoking it ends the sessions its guests
opened, on whichever node relays them. A link also dies with its creator's
right to share the PC (``backed``): grant removed, account disabled, sharing
switched off; ``ops.end_sessions_without_access`` ends its guests then too.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from .. import refs, tenancy
from ..errors import AdminError, NotFound
from ..extensions import db
from ..i18n import noop as _n
from ..live import LiveStoreError
from ..scoping import acting_organisation
from ..models import DEFAULT_ORGANISATION, GlobalSetting, Machine, ShareLink, User, audit, machine_for_user, utcnow
from ..security import hash_token, new_token
from .organisations import organisation_disabled
from .sessions import end_live, end_sessions_without_access

log = logging.getLogger(__name__)

#: How long a link may work, in minutes: a bounded choice, from a quick look to a working day.
DURATIONS = (15, 30, 60, 120, 240, 480)
DEFAULT_DURATION = 60
#: How many people one link may let in.
MAX_USES = 10
#: The global setting that lets employees share the PCs granted to them (admins always may).
SETTING = "share_links"
#: Stored in English in the history; the guest's viewer shows it in the guest's language.
REVOKED_REASON = _n("The share link was revoked")


def _setting_key() -> str:
    """The switch is each organisation's: the default one keeps the key it always had."""
    org = acting_organisation()
    return SETTING if org == DEFAULT_ORGANISATION else f"{SETTING}:{org}"


def sharing_allowed() -> bool:
    """Whether employees may create share links (the admin's switch; off until turned on)."""
    row = db.session.get(GlobalSetting, _setting_key())
    return row is not None and row.value == "on"


def set_sharing(allowed: bool, *, actor: str = "cli", ip: str = "") -> None:
    row = db.session.get(GlobalSetting, _setting_key()) or GlobalSetting(key=_setting_key())
    row.value, row.updated_at, row.updated_by = ("on" if allowed else "off"), utcnow(), actor[:64]
    db.session.add(row)
    audit("setting_change", actor=actor, ip=ip, target=SETTING, detail=row.value)
    db.session.commit()
    if not allowed:
        end_sessions_without_access()  # the guests of employees' links: those links died now


def may_share(user: User, machine: Machine) -> bool:
    """``user`` may create and list links to ``machine``: an admin, or granted it while sharing is on."""
    if user.disabled or machine.revoked_at is not None:
        return False
    return user.is_admin or may_share_as_grantee(user, machine)


def may_share_as_grantee(user: User, machine: Machine) -> bool:
    """``user`` may share ``machine`` as the person granted it (no admin power needed)."""
    return not user.disabled and sharing_allowed() and machine_for_user(user, machine.id) is not None


def backed(link: ShareLink) -> bool:
    """``link`` is live and its creator could still create it: a link dies with its creator's
    right to share the PC (grant removed, account disabled or deleted, sharing switched off), and
    is dead while the provider has the firm disabled (issue 17)."""
    if not link.live or organisation_disabled(link.organisation_id):
        return False
    creator = db.session.get(User, link.creator_id) if link.creator_id is not None else None
    return creator is not None and may_share(creator, link.machine)


def link_backed(link_id) -> bool:
    """``backed`` for the link ``link_id`` (a live record's ``share_id``); False for none."""
    try:
        link = db.session.get(ShareLink, int(link_id))
    except (TypeError, ValueError):
        return False
    return link is not None and backed(link)


def may_revoke(user: User, link: ShareLink) -> bool:
    return not user.disabled and (user.is_admin or link.creator_id == user.id)


def create(user: User, machine: Machine, *, view_only: bool, minutes: int, max_uses: int,
           actor: str, ip: str = "") -> tuple[ShareLink, str]:
    """A new link and its secret (shown once). The caller checked ``may_share``."""
    if minutes not in DURATIONS:
        raise AdminError(f"A link lasts one of {', '.join(map(str, DURATIONS))} minutes.")
    if not isinstance(max_uses, int) or isinstance(max_uses, bool) or not 1 <= max_uses <= MAX_USES:
        raise AdminError(f"A link lets in 1 to {MAX_USES} people.")
    secret = new_token(32)
    link = ShareLink(token_hash=hash_token(secret), machine_id=machine.id, creator_id=user.id,
                     creator_name=user.name, view_only=bool(view_only),
                     expires_at=utcnow() + timedelta(minutes=minutes), max_uses=max_uses)
    db.session.add(link)
    db.session.flush()
    audit("share_create", actor=actor, ip=ip, target=machine.name,
          detail=f"link {link.id}: {'view only' if link.view_only else 'control'}, {minutes} min, "
                 f"{max_uses} {'person' if max_uses == 1 else 'people'}")
    db.session.commit()
    return link, secret


def links_of(machine: Machine) -> list[ShareLink]:
    """A PC's links, newest first (expired and revoked ones too: the list says so)."""
    return list(db.session.scalars(select(ShareLink).where(ShareLink.machine_id == machine.id)
                                   .order_by(ShareLink.created_at.desc(), ShareLink.id.desc()).limit(50)))


def get_link(ref) -> ShareLink:
    ident = refs.record_id(ref)  # digits of a size SQL can hold, or None (refs)
    link = db.session.get(ShareLink, ident) if ident is not None else None
    if link is None:
        raise NotFound("No such share link.")
    return link


def find_by_secret(secret: str) -> ShareLink | None:
    """The link whose secret is ``secret`` (any state), or ``None``. Any firm's: the guest's
    request then acts for the link's organisation."""
    if not secret or len(secret) > 128:
        return None
    with tenancy.across_organisations():
        link = db.session.scalar(select(ShareLink).where(ShareLink.token_hash == hash_token(secret)))
    if link is not None:
        tenancy.switch(link.organisation_id)
    return link


def take_use(link: ShareLink, *, ip: str) -> bool:
    """Count one guest in, if the link is live with a use left: one UPDATE, so it is atomic."""
    if not backed(link):
        return False
    taken = db.session.execute(
        update(ShareLink).where(ShareLink.id == link.id, ShareLink.revoked_at.is_(None),
                                ShareLink.expires_at > utcnow(), ShareLink.uses < ShareLink.max_uses)
        .values(uses=ShareLink.uses + 1).execution_options(synchronize_session=False)).rowcount
    if taken:
        audit("share_use", actor=guest_name(link.id), ip=ip, target=link.machine.name, detail=f"link {link.id}")
    db.session.commit()
    db.session.refresh(link)
    return bool(taken)


def revoke(link: ShareLink, *, actor: str, ip: str = "") -> int:
    """Revoke ``link`` and end the sessions its guests opened; how many were ended."""
    if link.revoked_at is None:
        link.revoked_at, link.revoked_by = utcnow(), actor[:64]
        audit("share_revoke", actor=actor, ip=ip, target=link.machine.name, detail=f"link {link.id}")
        db.session.commit()
    return end_guest_sessions(link.id, REVOKED_REASON)


def end_guest_sessions(link_id: int, reason: str) -> int:
    """End every live session opened through link ``link_id`` (their live records say ``share_id``)."""
    try:
        rows = current_app.extensions["ponte.live"].live_sessions()
    except LiveStoreError as exc:
        # Which sessions a link opened is known only to the live records: none ended now. Their
        # guests can open no new session (the link is checked at every ticket and viewer socket).
        log.warning("live sessions unavailable: the guests of link %s keep their sessions: %s", link_id, exc)
        return 0
    ended = 0
    for row in rows:
        if row.get("share_id") == str(link_id):
            end_live(row["id"], row.get("node", ""), reason)
            ended += 1
    return ended


def guest_name(link_id: int) -> str:
    """How a guest of link ``link_id`` appears in the history and the audit (with their address beside)."""
    return f"guest of link {link_id}"


def as_json(link: ShareLink) -> dict:
    return {"id": link.id, "machine": {"id": link.machine_id, "name": link.machine.name},
            "creator": link.creator_name, "view_only": link.view_only,
            "created_at": link.created_at.isoformat() + "Z", "expires_at": link.expires_at.isoformat() + "Z",
            "max_uses": link.max_uses, "uses": link.uses,
            "revoked_at": link.revoked_at.isoformat() + "Z" if link.revoked_at else None,
            "state": state(link)}


def state(link: ShareLink) -> str:
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= utcnow():
        return "expired"
    if link.uses >= link.max_uses:
        return "used"
    return "active"
