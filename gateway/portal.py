"""The employee portal: granted machines and the viewer page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, make_response, render_template
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import text

from . import database
from .assets import send_asset, send_novnc
from .extensions import db
from .models import granted_machines, machine_for_user
from .policy_status import for_person
from .ops import policy as policy_ops
from .ops import shares

bp = Blueprint("portal", __name__)
#: Seconds /healthz waits for the database before it answers 503.
HEALTH_DB_TIMEOUT = 2.0


@bp.route("/")
@login_required
def index():
    machines = for_person(current_user, granted_machines(current_user))  # the policy's words (issue 14)
    return render_template("portal/index.html", machines=machines)


@bp.route("/view/<machine>")
@login_required
def view(machine: str):
    found = machine_for_user(current_user, machine)
    if found is None:
        abort(403, _("You may not open this PC."))
    resp = make_response(render_template(
        "portal/view.html", machine=found, may_share=shares.may_share(current_user, found),
        share_durations=shares.DURATIONS, share_max_uses=shares.MAX_USES,
        file_transfer=policy_ops.decide(current_user, found).file_transfer))  # the Files button
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/assets/<path:filename>")
def assets(filename: str):
    """Ponte's own page scripts and style, versioned in the path (gateway/assets.py)."""
    return send_asset(filename)


@bp.route("/novnc/<path:filename>")
def novnc(filename: str):
    """noVNC's ES modules, straight from the npm package (no bundler, no CDN)."""
    return send_novnc(filename)


@bp.route("/healthz")
def healthz():
    """Load balancers' probe: 200 when SQL and Redis answer, else 503."""
    checks = {}
    try:
        with database.deadline(HEALTH_DB_TIMEOUT):  # a probe must answer, whatever the database does
            db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not healthy"
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        current_app.extensions["ponte.redis"].ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    # The node: behind a balancer (or with --workers) it says who answered.
    return {"status": "ok" if ok else "degraded", **checks, "node": current_app.config["PONTE"].node_id}, \
        200 if ok else 503
