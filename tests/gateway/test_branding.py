"""The company's name and logo (issue 13): an admin sets them, every page's header shows them,
the logo is served to anyone with a cache-busting address, and only real images are taken."""

from __future__ import annotations

import io
import zlib
import struct

from sqlalchemy import select

from gateway.extensions import db
from gateway.models import AuditEvent


def _png(width: int = 2, height: int = 1) -> bytes:
    """A real, tiny PNG (made here: no image file in the repository)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _save(client, csrf: str, name: str, logo: bytes | None = None, filename: str = "logo.png"):
    data = {"csrf_token": csrf, "company_name": name}
    if logo is not None:
        data["logo"] = (io.BytesIO(logo), filename)
    return client.post("/admin/branding", data=data, content_type="multipart/form-data")


def test_the_admin_sets_name_and_logo_and_every_page_shows_them(app, client, users, login):
    actions = login("boss")
    assert "Ponte</a>" in client.get("/").get_data(as_text=True)
    assert _save(client, actions.csrf, "  Studio   Rossi ", _png()).status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Studio Rossi<span class=\"product\"> · Ponte</span>" in page
    src = page.split('<img class="logo" src="', 1)[1].split('"', 1)[0]
    assert src.startswith("/brand/logo?v=")
    anonymous = app.test_client()
    assert src in anonymous.get("/login").get_data(as_text=True)   # the login page has it too
    resp = anonymous.get(src)
    assert resp.status_code == 200 and resp.mimetype == "image/png" and resp.data == _png()
    assert "max-age=86400" in resp.headers["Cache-Control"]
    assert anonymous.get(src, headers={"If-None-Match": resp.headers["ETag"]}).status_code == 304
    assert anonymous.get("/brand/logo").headers["Cache-Control"] == "no-cache"   # an old address: ask again
    with app.app_context():
        details = [e.detail for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "branding_change"))]
    assert details == ["name: 'Studio Rossi'; logo: image/png, %d bytes" % len(_png())]

    # A new logo, a new address; the name kept when only the logo changes.
    assert _save(client, actions.csrf, "Studio Rossi", _png(3, 2)).status_code == 302
    assert src not in client.get("/").get_data(as_text=True)
    client.post("/admin/branding/logo/remove", data={"csrf_token": actions.csrf})
    page = client.get("/").get_data(as_text=True)
    assert '<img class="logo"' not in page and "Studio Rossi" in page
    assert anonymous.get("/brand/logo").status_code == 404


def test_only_real_small_images_are_taken(client, users, login):
    actions = login("boss")
    for logo, filename, words in ((b"<svg onload='alert(1)'/>", "logo.svg", "must be a PNG, JPEG or WebP"),
                                  (b"GIF89a" + b"\x00" * 20, "logo.png", "must be a PNG, JPEG or WebP"),
                                  (_png() + b"\x00" * 300_000, "big.png", "at most 256 KB")):
        _save(client, actions.csrf, "Studio Rossi", logo, filename)
        assert words in client.get("/admin/branding").get_data(as_text=True)
    assert "/brand/logo" not in client.get("/").get_data(as_text=True)
    _save(client, actions.csrf, "x" * 81)
    assert "at most 80 printable characters" in client.get("/admin/branding").get_data(as_text=True)


def test_employees_cannot_change_it(client, users, login):
    actions = login("emp")
    assert _save(client, actions.csrf, "Evil Corp").status_code == 403
    assert "Evil Corp" not in client.get("/").get_data(as_text=True)
