"""The provider's side of organisations (issue 17): each firm's limits and usage figures.

``max_pcs`` is checked when a PC is added (``ops.add_machine``); ``max_sessions`` before every
session is issued (``check_session_limit``: people's, guests', shadows'): both count the acting
firm's own rows and live records, which ``scoping`` and ``live.visible`` restrict to that firm.
``usage`` reads every firm's history, across organisations: it is the provider's view, and its
callers audit who looked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import tenancy
from ..errors import AdminError, LimitReached
from ..extensions import db
from ..models import Machine, Organisation, SessionRecord, User, audit
from ..scoping import acting_organisation


def _organisation() -> Organisation | None:
    return db.session.get(Organisation, acting_organisation())


def check_pc_limit() -> None:
    """Before adding a PC: ``LimitReached`` if the firm has ``max_pcs`` already."""
    org = _organisation()
    if org is None or org.max_pcs is None:
        return
    if db.session.scalar(select(func.count()).select_from(Machine)) >= org.max_pcs:
        raise LimitReached(_("This organisation may have at most %(max)s PCs. Ask your provider for more.",
                             max=org.max_pcs))


def session_limit() -> int | None:
    """The firm's ``max_sessions`` (None: no limit)."""
    org = _organisation()
    return None if org is None else org.max_sessions


def check_session_limit(live) -> None:
    """Before any session is issued — a person's, a guest's through a share link, an admin's
    shadow: ``LimitReached`` if the firm has ``max_sessions`` live or pending already. Each of
    them is one session relayed (and one live record, ``org`` the firm's: ``live.visible``
    counts the acting firm's only); ``LiveStoreError`` when Redis cannot say (not opened blind)."""
    limit = session_limit()
    if limit is not None and len(live.live_sessions()) >= limit:
        raise LimitReached(_("Your organisation has %(max)s sessions open, the most its provider allows. "
                             "Try again when one ends.", max=limit))


@dataclass(frozen=True)
class Usage:
    people: int = 0
    pcs: int = 0
    sessions: int = 0
    seconds: float = 0.0
    bytes: int = 0

    @property
    def hours(self) -> float:
        return self.seconds / 3600


def usage(since: datetime | None = None) -> dict[int, Usage]:
    """Every organisation's people, PCs, and sessions (ended ones: their count, hours, bytes both
    ways) since ``since`` (default: all history), by organisation id."""
    if db.engine.dialect.name == "sqlite":
        seconds = (func.julianday(SessionRecord.ended_at) - func.julianday(SessionRecord.started_at)) * 86400.0
    else:
        seconds = func.extract("epoch", SessionRecord.ended_at - SessionRecord.started_at)
    with tenancy.across_organisations():
        stmt = (select(SessionRecord.organisation_id, func.count(), func.coalesce(func.sum(seconds), 0),
                       func.coalesce(func.sum(SessionRecord.bytes_to_viewer + SessionRecord.bytes_from_viewer), 0))
                .where(SessionRecord.ended_at.is_not(None)).group_by(SessionRecord.organisation_id))
        if since is not None:
            stmt = stmt.where(SessionRecord.started_at >= since)
        history = {org: (n, float(secs or 0), int(total or 0)) for org, n, secs, total in db.session.execute(stmt)}
        people = dict(db.session.execute(select(User.organisation_id, func.count()).group_by(User.organisation_id)).all())
        pcs = dict(db.session.execute(select(Machine.organisation_id, func.count())
                                      .group_by(Machine.organisation_id)).all())
        orgs = list(db.session.scalars(select(Organisation.id)))
    return {org: Usage(people.get(org, 0), pcs.get(org, 0), *history.get(org, (0, 0.0, 0))) for org in orgs}


def set_limits(org: Organisation, *, max_pcs: int | None, max_sessions: int | None,
               actor: str = "cli", ip: str = "") -> None:
    """The provider sets a firm's limits (None: no limit); audited in the provider's log."""
    for value in (max_pcs, max_sessions):
        if value is not None and value < 0:
            raise AdminError(_("A limit is a number of 0 or more, or empty for none."))
    org.max_pcs, org.max_sessions = max_pcs, max_sessions
    with tenancy.acting_for(tenancy.DEFAULT):   # the provider's audit log is the default firm's
        audit("organisation_limits", actor=actor, ip=ip, target=f"organisation:{org.slug}",
              detail=f"max_pcs={max_pcs}, max_sessions={max_sessions}")
        db.session.commit()
