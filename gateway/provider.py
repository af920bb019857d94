"""The provider's page (issue 17): every organisation with its limits and usage figures.

Only provider operators (``User.is_operator``, people of the default organisation) see it; it
reads across organisations, so each look and each change is audited in the provider's log.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from . import tenancy
from .auth import client_ip
from .errors import AdminError
from .extensions import db
from .models import Organisation, audit
from .ops.org_limits import set_limits, usage

bp = Blueprint("provider", __name__, url_prefix="/provider")


@bp.before_request
@login_required
def _operators_only():
    if not (current_user.is_operator and current_user.organisation_id == tenancy.DEFAULT
            and not current_user.disabled):
        abort(403)


@bp.get("/")
def index():
    figures = usage()
    with tenancy.across_organisations():
        orgs = list(db.session.scalars(select(Organisation).order_by(Organisation.id)))
    audit("provider_view", actor=current_user.name, ip=client_ip(), detail=f"{len(orgs)} organisations")
    db.session.commit()
    return render_template("provider/index.html", rows=[(org, figures[org.id]) for org in orgs])


def _limit(field: str) -> int | None:
    text = (request.form.get(field) or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise AdminError(_("A limit is a number of 0 or more, or empty for none."))
    return int(text)


@bp.post("/limits")
def limits():
    ref = request.form.get("organisation", "")
    with tenancy.across_organisations():
        org = db.session.get(Organisation, int(ref)) if ref.isdigit() and len(ref) < 10 else None
    if org is None:
        abort(404)
    try:
        set_limits(org, max_pcs=_limit("max_pcs"), max_sessions=_limit("max_sessions"),
                   actor=current_user.name, ip=client_ip())
        flash(_("The limits of %(name)s are saved.", name=org.name or org.slug), "ok")
    except AdminError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("provider.index"))
