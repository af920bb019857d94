"""The 2FA policy (everyone / admins / groups), forced set-up, admin reset, and the API (issue 12)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway import ops
from gateway.extensions import db
from gateway.factors import policy
from gateway.models import AuditEvent, RecoveryCode, TotpFactor
from tests.support.web import AuthActions, csrf_from
from tests.gateway.test_factors_totp import _code_at, _password_step, _second_step, turn_on_totp


class _SetupLogin:
    """A login that lands on /account (set-up): ``AuthActions`` would read the CSRF token from /."""

    def __init__(self, client, name="emp", password="emppass12"):
        self.resp = _password_step(client, name, password)
        self.csrf = csrf_from(client.get("/account").get_data(as_text=True))


def _set_policy(app, require, groups=(), passkey_login=False):
    with app.app_context():
        ids = [ops.get_group(g).id for g in groups]
        policy.save(require, ids, passkey_login, actor="boss")


@pytest.mark.parametrize("require,groups,emp,boss", [
    ("off", (), False, False), ("everyone", (), True, True), ("admins", (), False, True),
    ("groups", ("floor",), True, False)])
def test_who_the_policy_covers(app, users, require, groups, emp, boss):
    with app.app_context():
        floor = ops.add_group("floor")
        ops.add_member(floor, ops.get_user("emp"))
    _set_policy(app, require, groups)
    with app.app_context():
        assert policy.required_for(ops.get_user("emp")) is emp
        assert policy.required_for(ops.get_user("boss")) is boss
        assert policy.required_for(ops.get_user("other")) is False or require == "everyone"


def test_under_policy_without_factor_only_the_account_page(app, users, client):
    _set_policy(app, "everyone")
    auth = _SetupLogin(client)
    assert auth.resp.headers["Location"] == "/account"
    page = client.get("/account").get_data(as_text=True)
    assert 'id="setup-needed"' in page
    assert client.get("/").headers["Location"] == "/account"
    assert client.get("/view/1").headers["Location"] == "/account"
    assert client.get("/api/v1/me/machines").status_code == 403
    turn_on_totp(client, auth)
    assert client.get("/").status_code == 200          # set up: the portal opens
    fresh = app.test_client()
    assert _password_step(fresh).headers["Location"] == "/login/second-factor"


def test_setup_flag_clears_when_the_policy_is_lifted(app, users, client):
    _set_policy(app, "everyone")
    _SetupLogin(client)
    assert client.get("/").headers["Location"] == "/account"
    _set_policy(app, "off")
    assert client.get("/").status_code == 200


def test_policy_groups_need_a_group(app, users):
    with app.app_context(), pytest.raises(Exception, match="at least one group"):
        policy.save("groups", [], False, actor="boss")


def test_admin_policy_page_saves_and_audits(app, users, client, auth):
    with app.app_context():
        ops.add_group("floor")
    auth.login("boss", "bosspass1")
    page = client.get("/admin/factors").get_data(as_text=True)
    assert "Who must use a second factor" in page and 'href="/admin/settings"' in page   # under Settings
    with app.app_context():
        floor_id = str(ops.get_group("floor").id)
    resp = client.post("/admin/factors", data={"csrf_token": auth.csrf, "require": "groups",
                                               "group_id": floor_id, "passkey_login": "1"})
    assert resp.status_code == 302
    with app.app_context():
        saved = policy.current()
        assert saved.require == "groups" and saved.group_ids == {int(floor_id)} and saved.passkey_login
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "factor_policy"))
        assert event.actor == "boss" and "floor" in event.detail


def test_admin_reset_removes_factors_ends_logins_and_is_audited(app, users, client, auth):
    auth.login("emp", "emppass12")
    turn_on_totp(client, auth)
    boss = app.test_client()
    boss_auth = AuthActions(boss)
    boss_auth.login("boss", "bosspass1")
    with app.app_context():
        emp_id = ops.get_user("emp").id
    assert "Reset factors" in boss.get("/admin/factors").get_data(as_text=True)
    resp = boss.post(f"/admin/users/{emp_id}/factors/reset", data={"csrf_token": boss_auth.csrf, "confirm": "1"})
    assert resp.status_code == 302
    assert client.get("/").headers["Location"].startswith("/login")    # emp's login ended
    with app.app_context():
        assert db.session.scalar(select(TotpFactor.id)) is None and db.session.scalar(select(RecoveryCode.id)) is None
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "factor_reset"))
        assert event.actor == "boss" and event.target == "emp"
    assert AuthActions(app.test_client()).login("emp", "emppass12").headers["Location"] == "/"


def test_admin_reset_needs_a_recent_login(app, users, client, auth, monkeypatch):
    from gateway import auth as auth_module

    auth.login("boss", "bosspass1")
    with app.app_context():
        emp_id = ops.get_user("emp").id
    monkeypatch.setattr(auth_module, "RECENT_LOGIN", 0)
    resp = client.post(f"/admin/users/{emp_id}/factors/reset", data={"csrf_token": auth.csrf})
    assert resp.headers["Location"].startswith("/reauth")
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "factor_reset")) is None


def test_api_policy_reset_and_own_factors(app, world, client, auth):
    bearer = {"Authorization": f"Bearer {world.token}"}
    assert client.get("/api/v1/factors/policy", headers=bearer).get_json()["policy"]["require"] == "off"
    resp = client.put("/api/v1/factors/policy", headers=bearer, json={"require": "admins", "passkey_login": True})
    assert resp.status_code == 200 and resp.get_json()["policy"] == {"require": "admins", "group_ids": [],
                                                                     "passkey_login": True}
    assert client.put("/api/v1/factors/policy", headers=bearer, json={"require": "nobody"}).status_code == 400
    assert client.put("/api/v1/factors/policy", headers=bearer, json={"require": "groups", "group_ids": ["x"]}
                      ).status_code == 400
    emp = app.test_client()
    emp_auth = AuthActions(emp)
    emp_auth.login("emp", "emppass12")
    turn_on_totp(emp, emp_auth)
    mine = emp.get("/api/v1/me/factors").get_json()
    assert mine["totp"] is True and mine["recovery_codes_left"] == 10 and mine["required"] is False
    resp = client.post(f"/api/v1/users/{world.users['emp']}/factors/reset", headers=bearer)
    assert resp.status_code == 200
    assert client.post("/api/v1/users/999999/factors/reset", headers=bearer).status_code == 404
    assert emp.get("/api/v1/me/factors").status_code == 401   # the reset ended emp's login
