"""Which organisation a request acts for, chosen at its start (issue 17; ``gateway.scoping``).

- a signed-in person (cookie or API token): their own organisation, always;
- nobody signed in: the firm whose own host name the request came to (``Organisation.hostname``),
  else the organisation whose ``/o/<slug>/`` pages this browser came through (kept in the
  cookie, so the second-factor step after the password stays in that firm), else the default
  organisation: a single-firm install's ``/login`` works as before;
- a request that finds its row by a secret (an agent's credential, a one-time link or code)
  looks the secret up across organisations and then ``tenancy.switch``-es to the row's firm.

The person is loaded across organisations (``auth.load_user``): their id in the cookie is all we
know until the row says which firm they belong to.
"""

from __future__ import annotations

import time

from flask import Flask, abort, current_app, g, request, session
from flask_login import current_user
from sqlalchemy import select

from . import tenancy
from .database import UNAVAILABLE

#: Endpoints that read nothing of any firm's: they choose none, so they never load the person
#: (the health probe must answer 503 by itself while the database is down, cookie or not).
NO_ORGANISATION = frozenset({"portal.healthz", "portal.assets", "portal.novnc", "i18n.scripts", "static"})

#: Cookie key: the organisation of the ``/o/<slug>/`` page this (signed-out) browser came through.
ORG_KEY = "ponte_org"


def organisation_of_browser() -> int:
    found = session.get(ORG_KEY)
    return found if isinstance(found, int) and not isinstance(found, bool) and found > 0 else tenancy.DEFAULT


def remember_organisation(org_id: int) -> None:
    """A signed-out browser on ``/o/<slug>/``: it acts for that firm until it signs in or leaves."""
    if org_id == tenancy.DEFAULT:
        session.pop(ORG_KEY, None)
    else:
        session[ORG_KEY] = org_id
    tenancy.switch(org_id)


def organisation_by_slug(slug: str):
    """The enabled organisation of ``slug`` (looked up across firms), or a 404."""
    from .models import Organisation
    from .extensions import db

    org = db.session.scalar(select(Organisation).where(Organisation.slug == slug.strip().lower()[:40]))
    if org is None or org.disabled:
        abort(404)
    return org


class _Hostnames:
    """Firms' own host names → organisation ids, read at most every ``TTL`` seconds: signed-out
    requests (assets, health checks) must not each cost a query, nor fail with the database.
    The node that changes a firm's name or state reads them again at once (``forget``)."""

    TTL = 30.0

    def __init__(self):
        self._map: dict[str, int] = {}
        self._until = 0.0

    def forget(self) -> None:
        self._until = 0.0

    def lookup(self, host: str) -> int | None:
        now = time.monotonic()
        if now >= self._until:
            self._until = now + self.TTL
            try:
                from .extensions import db
                from .models import Organisation

                with tenancy.across_organisations():
                    rows = db.session.execute(select(Organisation.hostname, Organisation.id).where(
                        Organisation.hostname.is_not(None), Organisation.disabled.is_(False))).all()
                self._map = {name.lower(): org for name, org in rows}
            except UNAVAILABLE:
                pass   # the names we knew, until the database answers
        return self._map.get(host.split(":", 1)[0].lower()) if self._map else None


def host_organisation() -> int | None:
    """The firm whose own host name this request came to, if any."""
    return current_app.extensions["ponte.hostnames"].lookup(request.host)


def firm_disabled(org_id: int) -> bool:
    """Is ``org_id`` a firm its provider disabled (its people may not be signed in)? Read now, on
    every request of another firm's person: a firm disabled on one node is shut out on all at
    once, whichever way its people had signed in (the default firm's cost nothing)."""
    if org_id == tenancy.DEFAULT:
        return False
    from .ops.organisations import organisation_disabled

    return organisation_disabled(org_id)


def init_app(app: Flask) -> None:
    app.extensions["ponte.hostnames"] = _Hostnames()   # one per app: each has its database

    @app.before_request
    def _choose_organisation():
        g.pop(tenancy.REQUEST_KEY, None)   # a test's app context may be shared by its requests
        if request.endpoint in NO_ORGANISATION:
            return
        if current_user.is_authenticated:
            tenancy.switch(current_user.organisation_id)
        else:
            tenancy.switch(host_organisation() or organisation_of_browser())
