"""The company's name and logo in every page's header (issue 13), set by an admin.

One ``Branding`` row (id 1). The logo is a PNG, JPEG or WebP of at most 256 KB, recognised
by its first bytes (what the browser said it was is not trusted; SVG is refused, as it can
carry script); it is served at ``/brand/logo`` to anyone, the login page included, with a
version in the address so a new logo shows at once and an unchanged one is cached.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, abort, g, make_response, request
from flask_babel import gettext as _
from sqlalchemy import select

from .errors import AdminError
from .database import UNAVAILABLE
from .extensions import db
from .models import Branding, audit, utcnow

bp = Blueprint("branding", __name__)

NAME_MAX = 80
LOGO_MAX = 256 * 1024
#: First bytes of the image types a logo may be, and their media types.
SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def logo_type(data: bytes) -> str:
    """The media type of ``data`` when it is a PNG, JPEG or WebP; else ``""``."""
    for signature, media in SIGNATURES:
        if data.startswith(signature):
            return media
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def current() -> Branding | None:
    """This request's branding row (read once per request), or None when none was set."""
    if "ponte_branding" not in g:
        try:
            g.ponte_branding = _find()
        except UNAVAILABLE:
            # Pages that need no database (the login form, the "try again" page) still show,
            # with Ponte's own name: the branding must never be why a page fails.
            db.session.rollback()
            g.ponte_branding = None
    return g.ponte_branding


def version(row: Branding | None) -> str:
    """A short fingerprint of the logo, for its address (``?v=``): a new logo, a new address."""
    return hashlib.sha256(row.logo).hexdigest()[:12] if row is not None and row.logo else ""


def _find() -> Branding | None:
    """This organisation's row (one per firm; ``scoping`` picks the firm's)."""
    return db.session.scalar(select(Branding).order_by(Branding.id).limit(1))


def _row() -> Branding:
    row = _find()
    if row is None:
        row = Branding(company_name="", logo=None, logo_type="")
        db.session.add(row)
    return row


def save(name: str, logo: bytes | None, *, actor: str, ip: str) -> Branding:
    """Set the company name, and the logo when ``logo`` is given; ``AdminError`` says what is wrong."""
    name = " ".join((name or "").split())
    if len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        raise AdminError(_("A company name has at most %(max)s printable characters.", max=NAME_MAX))
    media = ""
    if logo is not None:
        if len(logo) > LOGO_MAX:
            raise AdminError(_("The logo may be at most %(kb)s KB.", kb=LOGO_MAX // 1024))
        media = logo_type(logo)
        if not media:
            raise AdminError(_("The logo must be a PNG, JPEG or WebP image."))
    row = _row()
    changed = []
    if name != row.company_name:
        row.company_name = name
        changed.append(f"name: {name!r}")
    if logo is not None:
        row.logo, row.logo_type = logo, media
        changed.append(f"logo: {media}, {len(logo)} bytes")
    row.updated_at, row.updated_by = utcnow(), actor
    if changed:
        audit("branding_change", actor=actor, ip=ip, detail="; ".join(changed))
    db.session.commit()
    return row


def remove_logo(*, actor: str, ip: str) -> None:
    row = _find()
    if row is not None and row.logo:
        row.logo, row.logo_type = None, ""
        row.updated_at, row.updated_by = utcnow(), actor
        audit("branding_change", actor=actor, ip=ip, detail="logo removed")
        db.session.commit()


@bp.get("/brand/logo")
def logo():
    """The logo, to anyone (it is on the login page). Cached for a day: its address changes with it."""
    row = current()
    if row is None or not row.logo:
        abort(404)
    resp = make_response(row.logo)
    resp.headers["Content-Type"] = row.logo_type
    resp.headers["Cache-Control"] = "public, max-age=86400" if request.args.get("v") == version(row) else "no-cache"
    resp.headers["Content-Security-Policy"] = "default-src 'none'"
    resp.set_etag(version(row))
    return resp.make_conditional(request)


def init_app(app) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _branding():
        row = current()
        return {"company_name": row.company_name if row is not None else "",
                "logo_version": version(row)}
