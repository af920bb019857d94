"""Settings: one page that gathers how Ponte is set up for the company — its name and logo,
how people sign in, the second factor, API tokens, share links — each with the page that
changes it (the share-links switch is changed here)."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import func, select

from .. import branding, tenancy
from ..extensions import db
from ..factors import policy as factor_policy
from ..models import ApiToken, utcnow
from ..ops import shares
from ..scoping import acting_organisation
from ..signin import firms
from . import bp


@bp.get("/settings")
def settings():
    now = utcnow()
    active_tokens = db.session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.revoked_at.is_(None), (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now))) or 0
    return render_template("admin/settings.html", company=branding.current(),
                           **firms.methods(acting_organisation()),
                           own_firm=acting_organisation() != tenancy.DEFAULT,   # its sign-in is the provider's to set
                           factors=factor_policy.current(), active_tokens=active_tokens,
                           sharing_allowed=shares.sharing_allowed())
