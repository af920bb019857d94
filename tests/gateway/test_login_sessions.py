"""Login sessions are revocable and bounded (issue 9 items 2, 3 and the CSRF part of 10).

A ``ponte_session`` cookie saved by an attacker is replayed from a fresh
client after each event that must end it.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from gateway import ops
from gateway.extensions import db
from gateway.models import AuditEvent
from tests.support.node_commands import Commands
from tests.support.web import AuthActions, csrf_from

COOKIE = "ponte_session"


def saved_cookie(client) -> str:
    return client.get_cookie(COOKIE).value


def replay(app, cookie: str, **environ) -> int:
    """Status of ``GET /api/v1/me`` from a fresh client that sends only ``cookie``."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief.get("/api/v1/me", environ_base=environ).status_code


def audited(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_saved_cookie_works_until_logout(app, client, users, login):
    emp = login("emp")
    cookie = saved_cookie(client)
    assert replay(app, cookie) == 200          # the same cookie elsewhere: still the login
    assert emp.logout().status_code == 302
    assert replay(app, cookie) == 401


def test_saved_cookie_dies_on_admin_password_reset(app, client, users, login):
    login("emp")
    cookie = saved_cookie(client)
    commands = Commands(app)
    admin = app.test_client()
    boss = AuthActions(admin)
    assert boss.login("boss", "bosspass1").status_code == 302
    emp_id = ops_user_id(app, "emp")
    resp = admin.post(f"/admin/users/{emp_id}/password",
                      data={"csrf_token": boss.csrf, "password": "brand-new-pw-1", "confirm": "brand-new-pw-1"})
    assert resp.status_code == 302
    assert replay(app, cookie) == 401
    assert client.get("/api/v1/me").status_code == 401
    # ...and the person's live sessions are told to end, on every node.
    commands.wait(lambda c: c.get("cmd") == "end_user" and c.get("user_id") == emp_id)


def ops_user_id(app, name: str) -> int:
    with app.app_context():
        return ops.get_user(name).id


def test_saved_cookie_dies_on_disable_and_stays_dead_after_enable(app, client, users, login):
    login("emp")
    cookie = saved_cookie(client)
    with app.app_context():
        ops.set_disabled(ops.get_user("emp"), True)
        ops.set_disabled(ops.get_user("emp"), False)
    assert replay(app, cookie) == 401
    assert AuthActions(app.test_client()).login("emp", "emppass12").status_code == 302  # a new login works


def test_password_change_from_the_cli_path_ends_logins(app, client, users, login):
    login("emp")
    cookie = saved_cookie(client)
    with app.app_context():
        ops.set_password(ops.get_user("emp"), "another-pw-77")
    assert replay(app, cookie) == 401


def test_log_out_everywhere_from_the_portal(app, client, users, login):
    emp = login("emp")
    laptop = app.test_client()
    assert AuthActions(laptop).login("emp", "emppass12").status_code == 302
    commands = Commands(app)
    page = client.get("/").get_data(as_text=True)
    assert 'action="/logout/everywhere"' in page
    resp = client.post("/logout/everywhere", data={"csrf_token": emp.csrf})
    assert resp.status_code == 302 and resp.location.startswith("/login")
    assert laptop.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").status_code == 401
    assert [e.actor for e in audited(app, "logout_everywhere")] == ["emp"]
    commands.wait(lambda c: c.get("cmd") == "end_user" and c.get("user_id") == ops_user_id(app, "emp"))


def test_admin_logs_a_user_out_everywhere_by_api_and_page(app, client, users, admin):
    victim = app.test_client()
    assert AuthActions(victim).login("emp", "emppass12").status_code == 302
    resp = client.post("/api/v1/users/emp/logout", headers=admin.headers())
    assert resp.status_code == 200 and resp.get_json()["user"]["name"] == "emp"
    assert victim.get("/api/v1/me").status_code == 401
    assert AuthActions(victim).login("emp", "emppass12").status_code == 302
    emp_id = ops_user_id(app, "emp")
    page = client.get(f"/admin/users/{emp_id}").get_data(as_text=True)
    assert f'action="/admin/users/{emp_id}/logout"' in page
    resp = client.post(f"/admin/users/{emp_id}/logout", data={"csrf_token": admin.csrf})
    assert resp.status_code == 302
    assert victim.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").status_code == 200   # the admin stays logged in
    assert [(e.actor, e.target) for e in audited(app, "user_logout")] == [("boss", "emp")] * 2


def test_absolute_lifetime(app, client, users, login):
    from gateway.auth import LOGIN_AT

    login("emp")
    lifetime = app.config["PONTE"].login_lifetime
    assert lifetime == 12 * 3600
    with client.session_transaction() as sess:
        sess[LOGIN_AT] = time.time() - lifetime + 60
    assert client.get("/api/v1/me").status_code == 200
    with client.session_transaction() as sess:
        sess[LOGIN_AT] = time.time() - lifetime - 1
    assert client.get("/api/v1/me").status_code == 401


def test_idle_lifetime_and_what_counts_as_activity(app, client, users, login):
    from gateway.auth import SEEN_AT

    login("emp")
    idle = app.config["PONTE"].login_idle_timeout
    assert idle == 30 * 60
    background = {"X-Ponte-Background": "1"}
    with client.session_transaction() as sess:
        sess[SEEN_AT] = time.time() - idle + 30
    # The portal's own polling does not keep an unattended page logged in...
    assert client.get("/api/v1/me/machines", headers=background).status_code == 200
    with client.session_transaction() as sess:
        assert sess[SEEN_AT] < time.time() - idle + 31
    # ...a person's request (a page, a click, the viewer's activity ping) does.
    assert client.get("/api/v1/me").status_code == 200
    with client.session_transaction() as sess:
        assert sess[SEEN_AT] > time.time() - 5
        sess[SEEN_AT] = time.time() - idle - 1
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/").status_code == 302


def test_cookie_from_before_epochs_is_refused(app, client, users, login):
    from gateway.auth import EPOCH

    login("emp")
    with client.session_transaction() as sess:
        sess.pop(EPOCH)
    assert client.get("/api/v1/me").status_code == 401


# -- strong session protection behind proxies (item 3) -------------------------------------------

@pytest.mark.parametrize("trusted", [0, 1])
def test_cookie_bound_to_an_address_is_refused_with_a_forged_forwarded_for(tmp_path, redis_server, prefix,
                                                                          trusted):
    from gateway import create_app

    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "trusted_proxies": trusted})
    with app.app_context():
        ops.add_user("emp", "emppass12")
    victim_ip = "203.0.113.7"
    if trusted:   # through the proxy: it connects from loopback and appends the client's address
        victim = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": victim_ip}
        thief = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": f"{victim_ip}, 198.51.100.66"}
    else:         # straight to the gateway
        victim = {"REMOTE_ADDR": victim_ip}
        thief = {"REMOTE_ADDR": "198.51.100.66", "HTTP_X_FORWARDED_FOR": victim_ip}
    client = app.test_client()
    page = client.get("/login", environ_base=victim).get_data(as_text=True)
    resp = client.post("/login", environ_base=victim,
                       data={"csrf_token": csrf_from(page), "name": "emp", "password": "emppass12"})
    assert resp.status_code == 302
    cookie = saved_cookie(client)
    assert replay(app, cookie, **victim) == 200
    assert replay(app, cookie, **thief) == 401


# -- CSRF token rotation (item 10) -----------------------------------------------------------------

def test_csrf_token_is_rotated_at_login_and_logout(app, client, users):
    page = client.get("/login").get_data(as_text=True)
    planted = csrf_from(page)    # e.g. fixed by an attacker before the victim logs in
    resp = client.post("/login", data={"csrf_token": planted, "name": "emp", "password": "emppass12"})
    assert resp.status_code == 302
    # The token from before the login no longer works for a logged-in change.
    assert client.post("/logout", data={"csrf_token": planted}).status_code == 400
    fresh = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": fresh}).status_code == 302
    # The logged-in page's token dies with the login: it cannot post the login form afterwards.
    resp = client.post("/login", data={"csrf_token": fresh, "name": "emp", "password": "emppass12"})
    assert resp.status_code == 400
    assert client.get("/api/v1/me").status_code == 401
