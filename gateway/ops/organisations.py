"""Organisations (issue 17): creating a firm, finding one by its id or slug."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select

from .. import refs, tenancy
from ..errors import Conflict, NotFound
from ..extensions import db
from ..models import DEFAULT_ORGANISATION, Organisation, audit

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
