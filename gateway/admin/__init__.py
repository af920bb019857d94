"""The admin console ``/admin``: users, groups, machines, grants, sessions, history, audit, tokens.

Plain HTML forms (CSRF token in each), one POST per action, then a redirect
back with a flash. Every change goes through ``gateway.ops`` (audited). All of
``/admin`` needs an admin whose password was entered in the last 30 minutes
(``auth.login_is_recent``); otherwise ``/reauth`` asks for it and comes back.
Pages by resource::

    overview  the dashboard
    users, groups, machines (with their grants), sessions, tokens
    settings  company, sign-in, second factor, tokens, share links in one place
    reports   history and audit, as pages and CSV
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import login_is_recent, safe_next
from ..extensions import login_manager

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _guard():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403, _("This page is for admins."))
    if not login_is_recent():
        if request.method == "GET":
            target = request.full_path.rstrip("?")
        else:
            flash(_("For your safety, confirm your password, then make the change again."), "info")
            ref = urlsplit(request.referrer or "")
            same_site = ref.netloc == request.host and ref.path.startswith("/admin")
            target = (ref.path + ("?" + ref.query if ref.query else "")) if same_site else url_for("admin.index")
        return redirect(url_for("auth.reauth", next=safe_next(target, url_for("admin.index"))))
    return None


# The pages register themselves on ``bp`` when imported (Flask's package pattern).
from . import bulk, company, groups, machines, overview, recordings, reports, sessions, settings, shares, tokens, users  # noqa: E402,F401
from . import policy  # noqa: E402,F401  (issue 14)
