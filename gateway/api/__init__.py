"""JSON API ``/api/v1`` (DESIGN.md §4). Errors: ``{"error": {"code", "message"}}``.

Auth: the login cookie (mutating calls then need ``X-CSRFToken``) or a bearer
API token. Admin routes need ``is_admin``; by cookie they also need a recent
login (``auth.login_is_recent``), reads included, as the admin pages do.
Object references (``<user>``, ``<machine>``, ``<group>``) accept an id or a name.

Errors are reported one way: a view raises ``ApiError`` (or an ``ops.AdminError``,
translated here) and ``_error_reply`` answers. Routes by resource::

    me        the caller and their machines
    sessions  open, look at and end a session; live sessions (admin)
    reports   history, audit, login attacks (admin)
    users, groups, machines, grants, tokens   (admin)
    enroll    agents swap an enrolment code for a credential
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import login_is_recent, via_token
from ..extensions import csrf
from ..i18n import noop as _n
from ..ops import AdminError
from ..errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # cookie-authenticated calls are checked in ``_authenticate``

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
REAUTH_MESSAGE = _n("The admin API needs a login younger than 30 minutes: confirm your password at /reauth "
                    "(or use an API token).")


@bp.errorhandler(ApiError)
@bp.errorhandler(AdminError)
def _error_reply(exc: ApiError | AdminError):
    if isinstance(exc, AdminError):
        exc = ApiError.from_admin_error(exc)
    return jsonify(error={"code": exc.code, "message": exc.message}), exc.status


@bp.before_request
def _authenticate():
    if request.endpoint == "api.enroll":
        return
    if not current_user.is_authenticated:
        raise ApiError(401, "unauthorized", _("Log in or send a valid API token."))
    if request.method not in SAFE_METHODS and not via_token():
        csrf.protect()  # a logged-in browser must prove the request came from our page


def admin_only(fn):
    """Admins only; by cookie, a recent login (reads too: audit, users, tokens are as sensitive
    as changes). Marks the view for the route table."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            raise ApiError(403, "forbidden", _("Admins only."))
        if not login_is_recent():
            raise ApiError(403, "reauth_required", _(REAUTH_MESSAGE))
        return fn(*args, **kwargs)
    wrapper.ponte_access = "admin"
    return wrapper


def no_store(resp, status: int):
    """An answer holding a one-time secret (an enrolment code, a token): no cache may keep it."""
    resp.headers["Cache-Control"] = "no-store"
    return resp, status


# The routes register themselves on ``bp`` when imported (Flask's package pattern).
from . import enroll, files, grants, groups, machines, me, reports, sessions, shares, tokens, users  # noqa: E402,F401
from . import shadowing  # noqa: E402,F401
from . import occupancy, policy  # noqa: E402,F401  (issue 14)
