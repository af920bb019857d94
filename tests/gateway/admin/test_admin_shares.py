"""Share links on the admin pages (issue 14): the switch, a PC's links, creating one (shown once)
and revoking it — each audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from gateway.extensions import db
from gateway.models import AuditEvent, ShareLink
from tests.support.web import csrf_from


def test_admin_switches_sharing_creates_and_revokes_a_link(app, world, admin, client):
    page = client.get("/admin/machines").get_data(as_text=True)
    assert "Only admins may share PCs with guests" in page
    resp = client.post("/admin/settings/share-links", data={"csrf_token": admin.csrf, "share_links": "on"},
                       follow_redirects=True)
    assert "Employees may now share the PCs granted to them." in resp.get_data(as_text=True)

    machine = world.machines["desk-2"]
    page = client.get(f"/admin/machines/{machine}").get_data(as_text=True)
    assert 'id="share-links"' in page and "No share link yet." in page
    created = client.post(f"/admin/machines/{machine}/shares",
                          data={"csrf_token": admin.csrf, "mode": "control", "minutes": "30", "max_uses": "3"})
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    url = re.search(r'<code id="share-url">([^<]+)</code>', created.get_data(as_text=True)).group(1)
    assert "/share/" in url
    with app.app_context():
        link = db.session.scalar(select(ShareLink))
        assert (link.view_only, link.max_uses, link.creator_name) == (False, 3, "boss")
        link_id = link.id
    page = client.get(f"/admin/machines/{machine}").get_data(as_text=True)
    assert f"Link {link_id} by boss" in page and "0 of 3 used" in page and url not in page   # shown once
    # out-of-range choices are refused with a message, no link made
    bad = client.post(f"/admin/machines/{machine}/shares",
                      data={"csrf_token": admin.csrf, "minutes": "45", "max_uses": "1"}, follow_redirects=True)
    assert "Choose how long the link works" in bad.get_data(as_text=True)
    revoked = client.post(f"/admin/shares/{link_id}/revoke", data={"csrf_token": admin.csrf},
                          follow_redirects=True)
    assert "Link revoked; 0 guest session(s) ended." in revoked.get_data(as_text=True)
    assert app.test_client().get(url.replace("http://localhost", "")).status_code == 404
    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert db.session.scalar(select(ShareLink.id).where(ShareLink.id != link_id)) is None
    assert {"setting_change", "share_create", "share_revoke"} <= set(actions)


def test_employee_sees_share_in_the_viewer_only_when_allowed(app, world, login, client):
    from gateway.ops import shares

    login("emp")
    assert 'id="share-open"' not in client.get("/view/desk-1").get_data(as_text=True)
    with app.app_context():
        shares.set_sharing(True, actor="boss")
    page = client.get("/view/desk-1").get_data(as_text=True)
    assert 'id="share-open"' in page and 'id="share-dialog"' in page and "share.js" in page
    assert csrf_from(page)
