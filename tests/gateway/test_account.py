"""The own account page ``/account``: password change, sessions, log out everywhere (issue 12)."""

from __future__ import annotations

from gateway import ops
from gateway.extensions import db
from gateway.models import AuditEvent
from sqlalchemy import select
from tests.support.web import AuthActions, csrf_from


def test_account_page_shows_password_factors_and_logins(app, users, client, auth):
    auth.login("emp", "emppass12")
    page = client.get("/account")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for part in ("Change password", "Set up an authenticator app", "Add a passkey", "Log out everywhere",
                 "Recent logins"):
        assert part in html
    assert 'href="/account"' in client.get("/").get_data(as_text=True)   # linked from the header


def test_change_password_needs_the_current_one(app, users, client, auth):
    auth.login("emp", "emppass12")
    resp = client.post("/account/password", data={"csrf_token": auth.csrf, "current": "wrong-one",
                                                  "new": "Tr0ub4dor&3-horse", "repeat": "Tr0ub4dor&3-horse"})
    assert resp.status_code == 401
    assert "current password is not right" in resp.get_data(as_text=True)
    assert AuthActions(app.test_client()).login("emp", "emppass12").status_code == 302


def test_change_password_refuses_a_mismatch_and_a_weak_one(app, users, client, auth):
    auth.login("emp", "emppass12")
    resp = client.post("/account/password", data={"csrf_token": auth.csrf, "current": "emppass12",
                                                  "new": "Tr0ub4dor&3-horse", "repeat": "Tr0ub4dor&3-hors"})
    assert resp.status_code == 400 and "differ" in resp.get_data(as_text=True)
    resp = client.post("/account/password", data={"csrf_token": auth.csrf, "current": "emppass12",
                                                  "new": "short", "repeat": "short"})
    assert resp.status_code == 400 and "at least" in resp.get_data(as_text=True)


def test_change_password_ends_other_logins_keeps_this_one(app, users, client, auth):
    auth.login("emp", "emppass12")
    elsewhere = app.test_client()
    assert AuthActions(elsewhere).login("emp", "emppass12").status_code == 302
    assert elsewhere.get("/").status_code == 200
    resp = client.post("/account/password", data={"csrf_token": auth.csrf, "current": "emppass12",
                                                  "new": "Tr0ub4dor&3-horse", "repeat": "Tr0ub4dor&3-horse"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account")
    assert client.get("/").status_code == 200                       # this browser goes on
    assert elsewhere.get("/").headers["Location"].startswith("/login")   # the other one is out
    assert AuthActions(app.test_client()).login("emp", "emppass12").status_code == 401
    assert AuthActions(app.test_client()).login("emp", "Tr0ub4dor&3-horse").status_code == 302
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target == "emp")).all()
        assert "user_passwd" in actions


def test_account_needs_a_login(app, users, client):
    assert client.get("/account").headers["Location"].startswith("/login")
    csrf = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/account/password", data={"csrf_token": csrf, "current": "x", "new": "y", "repeat": "y"})
    assert resp.headers["Location"].startswith("/login")


def test_log_out_everywhere_from_the_account_page(app, users, client, auth):
    auth.login("emp", "emppass12")
    html = client.get("/account").get_data(as_text=True)
    assert 'action="/logout/everywhere"' in html
    resp = client.post("/logout/everywhere", data={"csrf_token": csrf_from(html)})
    assert resp.headers["Location"].startswith("/login")
    assert client.get("/account").headers["Location"].startswith("/login")
    with app.app_context():
        assert ops.get_user("emp").session_epoch >= 1
