"""The company's name and logo (``gateway.branding``): the admin's page to set them."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import branding
from ..ops import AdminError
from . import bp
from .helpers import who


@bp.get("/branding")
def branding_page():
    row = branding.current()
    return render_template("admin/branding.html", row=row, logo_max_kb=branding.LOGO_MAX // 1024)


@bp.post("/branding")
def branding_save():
    upload = request.files.get("logo")
    logo = upload.read(branding.LOGO_MAX + 1) if upload and upload.filename else None
    try:
        branding.save(request.form.get("company_name", ""), logo, **who())
    except AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Saved: every page shows it now."), "ok")
    return redirect(url_for("admin.branding_page"))


@bp.post("/branding/logo/remove")
def branding_logo_remove():
    branding.remove_logo(**who())
    flash(_("The logo is removed."), "ok")
    return redirect(url_for("admin.branding_page"))
