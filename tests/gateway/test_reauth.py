"""Admin changes need a login younger than 30 minutes (web and cookie API); bearer tokens are exempt."""

from __future__ import annotations

import time

import pytest

from gateway.auth import AUTH_AT, RECENT_LOGIN
from gateway.models import find_user


def age_login(client, seconds: float = RECENT_LOGIN + 60) -> None:
    with client.session_transaction() as sess:
        sess[AUTH_AT] = time.time() - seconds


def exists(app, name) -> bool:
    with app.app_context():
        return find_user(name) is not None


def test_fresh_login_may_change(client, admin, app):
    resp = client.post("/admin/users", data={"csrf_token": admin.csrf, "name": "fresh", "password": "freshpass1"})
    assert resp.status_code == 302 and exists(app, "fresh")


def test_stale_login_must_reenter_password_for_pages_and_changes(client, admin, app):
    age_login(client)
    resp = client.get("/admin/users?x=1")
    assert resp.status_code == 302 and resp.location == "/reauth?next=/admin/users?x%3D1"
    resp = client.post("/admin/users", data={"csrf_token": admin.csrf, "name": "late", "password": "latepass12"},
                       headers={"Referer": "http://localhost/admin/users"})
    assert resp.status_code == 302 and resp.location == "/reauth?next=/admin/users"
    assert not exists(app, "late")

    page = client.get("/reauth?next=/admin/users").get_data(as_text=True)
    assert "Confirm your password" in page and "For your safety" in page
    resp = client.post("/reauth?next=/admin/users", data={"csrf_token": admin.csrf, "password": "wrong-one"})
    assert resp.status_code == 401
    resp = client.post("/reauth?next=/admin/users", data={"csrf_token": admin.csrf, "password": "bosspass1"})
    assert resp.status_code == 302 and resp.location == "/admin/users"
    resp = client.post("/admin/users", data={"csrf_token": admin.csrf, "name": "late", "password": "latepass12"})
    assert resp.status_code == 302 and exists(app, "late")
    audit = client.get("/api/v1/audit?action=reauth_failed").get_json()["audit"]
    assert audit and audit[0]["actor"] == "boss"


def test_login_time_in_the_future_or_missing_is_not_recent(client, admin):
    with client.session_transaction() as sess:
        sess.pop(AUTH_AT)
    assert client.get("/admin/").status_code == 302
    age_login(client, -3600)
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_reauth_never_redirects_off_site(client, admin, target):
    resp = client.post("/reauth", query_string={"next": target}, data={"csrf_token": admin.csrf,
                                                                       "password": "bosspass1"})
    assert resp.status_code == 302 and resp.location == "/"


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/audit", "/api/v1/tokens", "/api/v1/history",
                                  "/api/v1/sessions", "/api/v1/machines", "/api/v1/groups", "/api/v1/login-attacks"])
def test_stale_cookie_api_may_neither_read_nor_change(client, admin, app, world, path):
    assert client.get(path).status_code == 200
    age_login(client)
    resp = client.get(path)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "reauth_required"
    resp = client.post("/api/v1/users", json={"name": "late", "password": "latepass12"}, headers=admin.headers())
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "reauth_required"
    resp = client.delete(f"/api/v1/sessions/{world.live['emp']}", headers=admin.headers())
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "reauth_required"
    assert not exists(app, "late")
    # The employee's own API is not an admin read: it needs no fresh password.
    assert client.get("/api/v1/me/machines").status_code == 200


def test_bearer_token_reads_admin_data_whenever(app, world):
    c = app.test_client()
    assert c.get("/api/v1/audit", headers={"Authorization": f"Bearer {world.token}"}).status_code == 200


def test_bearer_tokens_are_exempt(app, world):
    c = app.test_client()
    resp = c.post("/api/v1/users", json={"name": "bot-made", "password": "botmade123"},
                  headers={"Authorization": f"Bearer {world.token}"})
    assert resp.status_code == 201


def test_employee_ends_own_session_even_with_old_login(client, login, world):
    emp = login("emp")
    age_login(client)
    resp = client.delete(f"/api/v1/sessions/{world.live['emp']}", headers=emp.headers())
    assert resp.status_code == 202 and resp.get_json()["reason"] == "Ended by the user"
