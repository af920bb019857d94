"""Organisations (issue 17): creating a firm, finding one by its id or slug, disabling one,
giving it its own host name."""

from __future__ import annotations

import re
import unicodedata

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from .. import nodebus, refs, tenancy
from ..errors import AdminError, Conflict, NotFound
from ..extensions import db
from ..live import LiveStoreError
from ..models import DEFAULT_ORGANISATION, Organisation, User, audit
from ..i18n import noop as _n
from .sessions import broadcast

SLUG_MAX = 40
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
#: Slugs that would read as one of Ponte's own paths under ``/o/<slug>/``.
RESERVED_SLUGS = frozenset({"default", "admin", "api", "assets", "login", "logout", "o", "provider",
                            "signup", "static", "ws"})


def slugify(name: str) -> str:
    """A URL slug from a firm's name: "Rossi & Figli S.r.l." → "rossi-figli-s-r-l"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:SLUG_MAX].strip("-") or "firm"


def valid_slug(slug: str) -> bool:
    return bool(_SLUG.match(slug)) and slug not in RESERVED_SLUGS


def _free_slug(base: str) -> str:
    taken = set(db.session.scalars(select(Organisation.slug).where(Organisation.slug.like(f"{base}%"))))
    if base not in taken and base not in RESERVED_SLUGS:
        return base
    n = 2
    while True:
        candidate = f"{base[:SLUG_MAX - len(str(n)) - 1]}-{n}"
        if candidate not in taken:
            return candidate
        n += 1


def get_organisation(ref: str | int) -> Organisation:
    """By id (an int or digits) or by slug; ``NotFound`` otherwise."""
    org_id = refs.record_id(ref)
    org = db.session.get(Organisation, org_id) if org_id is not None else None
    if org is None and isinstance(ref, str):
        org = db.session.scalar(select(Organisation).where(Organisation.slug == ref.strip().lower()))
    if org is None:
        raise NotFound(f"no organisation {ref!r}")
    return org


def create_organisation(name: str, *, slug: str | None = None, language: str = "it",
                        max_pcs: int | None = None, max_sessions: int | None = None,
                        actor: str = "cli", ip: str = "") -> Organisation:
    """A new firm. ``slug`` given: it must be valid and free (``Conflict``); not given: one is
    made from the name, numbered when taken."""
    name = name.strip()
    if not name:
        raise Conflict("an organisation needs a name")
    if slug is None:
        slug = _free_slug(slugify(name))
    elif not valid_slug(slug):
        raise Conflict(f"{slug!r} is not a usable address: lower-case letters, digits and dashes")
    elif db.session.scalar(select(Organisation.id).where(Organisation.slug == slug)) is not None:
        raise Conflict(f"the address {slug!r} is taken")
    org = Organisation(slug=slug, name=name, language=language, max_pcs=max_pcs,
                       max_sessions=max_sessions, created_by=actor)
    db.session.add(org)
    db.session.flush()
    # Across organisations (the provider's view), the provider's own log, the default firm's.
    audit("organisation_created", actor=actor, ip=ip, target=f"organisation:{org.slug}",
          detail=f"id {org.id}, name {name!r}",
          organisation_id=DEFAULT_ORGANISATION if tenancy.is_across() else None)
    db.session.commit()
    return org


#: What a disabled firm's people and agents are told (``end_reasons`` translates it for viewers).
FIRM_DISABLED = _n("Your organisation's access was suspended by its provider")
HOSTNAME_MAX = 253
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def organisation_disabled(org_id: int) -> bool:
    """Read now from the database (an agent connecting, a session about to be issued)."""
    if org_id == DEFAULT_ORGANISATION:
        return False
    org = db.session.get(Organisation, org_id)
    return org is None or org.disabled


def set_disabled(org: Organisation, disabled: bool, *, actor: str = "cli", ip: str = "") -> bool:
    """Disable a firm (or enable it again); False when it already was. Disabling ends it at once
    on every node: every login of its people (their session epochs move on), every live session
    of its PCs (``EndSession`` each, people's, guests' and shadows' alike) and its agents'
    connections (``EndOrganisation``); while disabled its login page is gone, its API tokens,
    agents and share links are refused. Audited in the provider's log."""
    if org.id == DEFAULT_ORGANISATION:
        raise AdminError(_("The default organisation cannot be disabled."))
    if org.disabled == disabled:
        return False
    org.disabled = disabled
    if disabled:
        with tenancy.across_organisations():
            db.session.execute(update(User).where(User.organisation_id == org.id)
                               .values(session_epoch=User.session_epoch + 1))
    audit("organisation_disabled" if disabled else "organisation_enabled", actor=actor, ip=ip,
          target=f"organisation:{org.slug}", organisation_id=DEFAULT_ORGANISATION)
    db.session.commit()
    current_app.extensions["ponte.hostnames"].forget()
    if disabled:
        try:
            with tenancy.acting_for(org.id):
                live_rows = current_app.extensions["ponte.live"].live_sessions()   # the firm's only
        except LiveStoreError:
            live_rows = []   # Redis down: broadcast reaches this node's hub; its agents go below
        for row in live_rows:
            broadcast(nodebus.EndSession(row["id"], FIRM_DISABLED))
        broadcast(nodebus.EndOrganisation(org.id, FIRM_DISABLED))
    return True


def set_hostname(org: Organisation, hostname: str | None, *, actor: str = "cli", ip: str = "") -> None:
    """The firm's own host name (``remote.rossi.it``; None or empty: none): signed-out visitors
    there see its login page (``orgcontext``). Unique among firms; audited in the provider's log."""
    name = (hostname or "").strip().lower().rstrip(".") or None
    if name is not None:
        if not _HOSTNAME.match(name):
            raise AdminError(_("%(name)s is not a host name.", name=name[:HOSTNAME_MAX]))
        taken = db.session.scalar(select(Organisation.slug).where(Organisation.hostname == name,
                                                                  Organisation.id != org.id))
        if taken is not None:
            raise Conflict(_("The host name %(name)s is another organisation's.", name=name))
    org.hostname = name
    audit("organisation_hostname", actor=actor, ip=ip, target=f"organisation:{org.slug}",
          detail=name or "none", organisation_id=DEFAULT_ORGANISATION)
    db.session.commit()
    current_app.extensions["ponte.hostnames"].forget()
