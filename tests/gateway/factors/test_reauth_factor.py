"""``/reauth`` for people with a second factor: the password alone does not renew the login time."""

from __future__ import annotations

import time

from sqlalchemy import select

from gateway.auth import AUTH_AT
from gateway.extensions import db
from gateway.factors import reauth
from gateway.models import AuditEvent
from tests.gateway.test_factors_totp import _code_at, turn_on_totp
from tests.gateway.test_reauth import age_login
from tests.support.web import csrf_from


def _boss_with_totp(client, auth) -> tuple[str, list[str]]:
    auth.login("boss", "bosspass1")
    secret, codes = turn_on_totp(client, auth)
    age_login(client)
    assert client.get("/admin/users").location == "/reauth?next=/admin/users"
    return secret, codes


def _password(client, password="bosspass1"):
    page = client.get("/reauth?next=/admin/users").get_data(as_text=True)
    return client.post("/reauth?next=/admin/users", data={"csrf_token": csrf_from(page), "password": password})


def _code(client, code: str):
    page = client.get("/reauth/second-factor").get_data(as_text=True)
    return client.post("/reauth/second-factor", data={"csrf_token": csrf_from(page), "code": code})


def _code_without_page(client, code: str):
    """Post a code without opening the factor page first (it may redirect)."""
    csrf = csrf_from(client.get("/reauth").get_data(as_text=True))
    return client.post("/reauth/second-factor", data={"csrf_token": csrf, "code": code})


def _audit(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_password_alone_does_not_renew_a_login_with_totp(app, users, client, auth):
    secret, _ = _boss_with_totp(client, auth)
    resp = _password(client)
    assert resp.status_code == 302 and resp.location == "/reauth/second-factor"
    assert client.get("/admin/users").location == "/reauth?next=/admin/users"   # not renewed yet
    page = client.get("/reauth/second-factor").get_data(as_text=True)
    assert "Confirm it is you" in page and "authenticator app" in page and 'id="passkey-login"' not in page

    wrong = "000000" if _code_at(secret, +1) != "000000" else "111111"
    assert _code(client, wrong).status_code == 401
    assert client.get("/admin/users").location == "/reauth?next=/admin/users"
    assert [e.detail for e in _audit(app, "reauth_failed")] == ["wrong code"]

    resp = _code(client, _code_at(secret, +1))
    assert resp.status_code == 302 and resp.location == "/admin/users"
    assert client.get("/admin/users").status_code == 200
    assert [e.detail for e in _audit(app, "reauth")] == ["second factor: authenticator app"]


def test_a_recovery_code_confirms_too_and_only_once(app, users, client, auth):
    _, codes = _boss_with_totp(client, auth)
    _password(client)
    assert _code(client, codes[0]).location == "/admin/users"
    age_login(client)
    _password(client)
    assert _code(client, codes[0]).status_code == 401


def test_the_factor_step_needs_the_password_step_first_and_expires(app, users, client, auth, monkeypatch):
    secret, _ = _boss_with_totp(client, auth)
    assert client.get("/reauth/second-factor").location == "/reauth"   # no password given yet
    assert _code_without_page(client, _code_at(secret)).location == "/reauth"   # a code alone renews nothing
    _password(client)
    with client.session_transaction() as sess:
        sess[reauth.PENDING] = {**sess[reauth.PENDING], "at": time.time() - reauth.PENDING_TTL - 1}
    assert _code_without_page(client, _code_at(secret, +1)).location == "/reauth"
    assert client.get("/admin/users").location == "/reauth?next=/admin/users"


def test_passkey_step_needs_the_password_step_first(app, users, client, auth):
    _boss_with_totp(client, auth)
    headers = {"X-CSRFToken": auth.csrf}
    for path in ("/reauth/passkey/options", "/reauth/passkey"):
        resp = client.post(path, json={}, headers=headers)
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "password_first"


def test_the_pending_step_is_for_this_login_only(app, users, client, auth):
    """A pending step of another epoch (logged out everywhere meanwhile) is void."""
    secret, _ = _boss_with_totp(client, auth)
    _password(client)
    with client.session_transaction() as sess:
        sess[reauth.PENDING] = {**sess[reauth.PENDING], "epoch": -1}
    assert _code_without_page(client, _code_at(secret, +1)).location == "/reauth"
    with client.session_transaction() as sess:
        assert reauth.PENDING not in sess


def test_people_without_a_factor_still_confirm_with_the_password_alone(app, users, client, admin):
    age_login(client)
    page = client.get("/reauth?next=/admin/users").get_data(as_text=True)
    resp = client.post("/reauth?next=/admin/users", data={"csrf_token": csrf_from(page), "password": "bosspass1"})
    assert resp.location == "/admin/users"
    with client.session_transaction() as sess:
        assert time.time() - sess[AUTH_AT] < 60


def test_the_admin_second_step_speaks_the_persons_language(app, users, client, auth):
    _boss_with_totp(client, auth)
    assert _password(client).location == "/reauth/second-factor"
    page = client.get("/reauth/second-factor", headers={"Accept-Language": "it"}).get_data(as_text=True)
    csrf = csrf_from(page)
    assert client.post("/language", data={"csrf_token": csrf, "locale": "it",
                                          "next": "/reauth/second-factor"}).status_code == 302
    page = client.get("/reauth/second-factor").get_data(as_text=True)
    for italian in ("Confermi la Sua identità", "Password accettata per", "secondo fattore", "Ricomincia", ">Continua<"):
        assert italian in page, italian
    for english in ("Confirm it is you", "Admin changes also need", "Start again", ">Go on<"):
        assert english not in page, english
