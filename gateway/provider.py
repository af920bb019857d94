"""The provider's page (issue 17): every organisation with its limits and usage figures, its
own company sign-in (``/provider/signin``) and the switch that disables it.

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
from .ops.organisations import set_disabled
from .signin import firms

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
    return render_template("provider/index.html", rows=[(org, figures[org.id], firms.methods(org.id))
                                                        for org in orgs], default_org=tenancy.DEFAULT)


def _limit(field: str) -> int | None:
    text = (request.form.get(field) or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise AdminError(_("A limit is a number of 0 or more, or empty for none."))
    return int(text)


def _organisation(ref: str | None) -> Organisation:
    """The firm a form or link names by id, or a 404."""
    ref = ref or ""
    with tenancy.across_organisations():
        org = db.session.get(Organisation, int(ref)) if ref.isdigit() and len(ref) < 10 else None
    if org is None:
        abort(404)
    return org


@bp.post("/limits")
def limits():
    org = _organisation(request.form.get("organisation"))
    try:
        set_limits(org, max_pcs=_limit("max_pcs"), max_sessions=_limit("max_sessions"),
                   actor=current_user.name, ip=client_ip())
        flash(_("The limits of %(name)s are saved.", name=org.name or org.slug), "ok")
    except AdminError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("provider.index"))


@bp.post("/state")
def state():
    """Disable a firm (its logins and sessions end now, everywhere) or enable it again."""
    org = _organisation(request.form.get("organisation"))
    disabled = request.form.get("disabled") == "1"
    try:
        set_disabled(org, disabled, actor=current_user.name, ip=client_ip())
    except AdminError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(_("%(name)s is disabled: its people's logins and sessions have ended.", name=org.name or org.slug)
              if disabled else _("%(name)s is enabled again.", name=org.name or org.slug), "ok")
    return redirect(url_for("provider.index"))


@bp.get("/signin")
def signin_page():
    """A firm's own OpenID provider and LDAP directory (secrets are never shown back)."""
    org = _organisation(request.args.get("organisation"))
    if org.id == tenancy.DEFAULT:
        abort(404)   # the default firm's are the gateway's settings (gateway.toml)
    return render_template("provider/signin.html", org=org, values=firms.describe(org.id))


@bp.post("/signin")
def signin_save():
    org = _organisation(request.form.get("organisation"))
    if org.id == tenancy.DEFAULT:
        abort(404)
    form = request.form
    values = {name: form.get(name, "") for name in firms.TEXT_FIELDS}
    values.update({name: form.get(name) == "1" for name in firms.FLAG_FIELDS})
    values.update({name: form.get(name, "") for name in firms.SECRET_FIELDS})
    try:
        firms.save(org, values, actor=current_user.name, ip=client_ip())
    except AdminError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return render_template("provider/signin.html", org=org, values={**firms.describe(org.id), **{
            name: values[name] for name in firms.TEXT_FIELDS + firms.FLAG_FIELDS}}), 400
    flash(_("The sign-in of %(name)s is saved.", name=org.name or org.slug), "ok")
    return redirect(url_for("provider.index"))
