"""Share links on the admin pages (issue 14): a PC's links (create, revoke) and the switch that
lets employees share the PCs granted to them."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..errors import AdminError
from ..extensions import db
from ..headers import external_url
from ..models import ShareLink
from ..ops import shares
from . import bp
from .helpers import machine_or_404, who


@bp.post("/machines/<int:machine_id>/shares")
def machine_share_create(machine_id: int):
    m = machine_or_404(machine_id)
    try:
        minutes = int(request.form.get("minutes", shares.DEFAULT_DURATION))
        max_uses = int(request.form.get("max_uses", 1))
    except ValueError:
        minutes = max_uses = 0
    base = external_url(current_app.config["PONTE"])
    try:
        link, secret = shares.create(current_user._get_current_object(), m,
                                     view_only=request.form.get("mode", "view") != "control",
                                     minutes=minutes, max_uses=max_uses, **who())
    except AdminError:
        flash(_("Choose how long the link works and for how many people (1 to %(most)d).", most=shares.MAX_USES),
              "error")
        return redirect(url_for("admin.machine", machine_id=m.id))
    resp = current_app.make_response(render_template("admin/share_created.html", m=m, link=link,
                                                     url=f"{base}/share/{secret}"))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/shares/<int:share_id>/revoke")
def share_revoke(share_id: int):
    link = db.session.get(ShareLink, share_id)
    if link is None:
        abort(404)
    ended = shares.revoke(link, **who())
    flash(_("Link revoked; %(count)d guest session(s) ended.", count=ended), "ok")
    return redirect(url_for("admin.machine", machine_id=link.machine_id))


@bp.post("/settings/share-links")
def share_setting():
    allowed = request.form.get("share_links") == "on"
    shares.set_sharing(allowed, **who())
    flash(_("Employees may now share the PCs granted to them.") if allowed
          else _("Only admins may share PCs now."), "ok")
    return redirect(url_for("admin.settings"))
