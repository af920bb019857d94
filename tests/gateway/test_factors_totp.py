"""TOTP and recovery codes: set-up from /account, the login step, one use per code, limits (issue 12).

Codes are computed by pyotp from the secret the page shows, as an authenticator app would.
"""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import select

from gateway import ops
from gateway.extensions import db
from gateway.factors import totp
from gateway.models import AuditEvent, RecoveryCode, TotpFactor
from tests.support.web import AuthActions, csrf_from


def _secret(html: str) -> str:
    return re.search(r'id="totp-secret">([A-Z2-7]+)<', html).group(1)


def turn_on_totp(client, auth) -> tuple[str, list[str]]:
    """From /account: start, read the secret, confirm with a real code; the secret and recovery codes."""
    assert client.post("/account/totp/start", data={"csrf_token": auth.csrf}).status_code == 302
    page = client.get("/account/totp/setup").get_data(as_text=True)
    assert "<svg" in page and "<script" not in page
    secret = _secret(page)
    resp = client.post("/account/totp/setup", data={"csrf_token": auth.csrf, "code": pyotp.TOTP(secret).now()})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<code>([A-Z0-9-]{19})</code>", resp.get_data(as_text=True))
    return secret, codes


def _code_at(secret: str, step_offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + step_offset * totp.STEP)


def _second_step(client, code: str):
    page = client.get("/login/second-factor").get_data(as_text=True)
    return client.post("/login/second-factor", data={"csrf_token": csrf_from(page), "code": code})


def _password_step(client, name="emp", password="emppass12"):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf_from(page), "name": name, "password": password})


def test_setup_shows_qr_and_secret_and_needs_a_right_code(app, users, client, auth):
    auth.login("emp", "emppass12")
    client.post("/account/totp/start", data={"csrf_token": auth.csrf})
    page = client.get("/account/totp/setup").get_data(as_text=True)
    secret = _secret(page)
    assert 'class="segno"' in page and len(secret) == 32
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    resp = client.post("/account/totp/setup", data={"csrf_token": auth.csrf, "code": wrong})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(TotpFactor.confirmed_at)) is None


def test_turning_on_gives_ten_codes_and_ends_other_logins(app, users, client, auth):
    auth.login("emp", "emppass12")
    elsewhere = app.test_client()
    AuthActions(elsewhere).login("emp", "emppass12")
    secret, codes = turn_on_totp(client, auth)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/").status_code == 200
    assert elsewhere.get("/").headers["Location"].startswith("/login")
    with app.app_context():
        stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
        assert len(stored) == 10 and all(h.startswith("$argon2") for h in stored)
        assert not any(c.replace("-", "")[4:] in h for c in codes for h in stored)
    assert "On" in client.get("/account").get_data(as_text=True)


def test_login_asks_for_the_code_and_is_not_logged_in_before(app, users, client, auth):
    auth.login("emp", "emppass12")
    secret, _ = turn_on_totp(client, auth)
    fresh = app.test_client()
    resp = _password_step(fresh)
    assert resp.headers["Location"] == "/login/second-factor"
    assert fresh.get("/").headers["Location"].startswith("/login")       # not logged in yet
    assert fresh.get("/api/v1/me").status_code == 401
    resp = _second_step(fresh, _code_at(secret, +1))   # next step's code: within the drift
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert fresh.get("/").status_code == 200


def test_a_code_is_one_time_within_its_window(app, users, client, auth):
    auth.login("emp", "emppass12")
    secret, _ = turn_on_totp(client, auth)
    first = app.test_client()
    _password_step(first)
    code = _code_at(secret, +1)
    assert _second_step(first, code).status_code == 302
    second = app.test_client()
    _password_step(second)
    resp = _second_step(second, code)
    assert resp.status_code == 401 and "used already" in resp.get_data(as_text=True)
    older = _code_at(secret, 0)   # an earlier step than the last accepted one: refused too
    assert _second_step(second, older).status_code == 401


def test_codes_outside_the_window_are_refused():
    secret = pyotp.random_base32()
    now = 1_800_000_000
    step = now // totp.STEP
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now), after=0, now=now) == step
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now - 30), after=0, now=now) == step - 1
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now - 90), after=0, now=now) is None
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now), after=step, now=now) is None
    assert totp.matching_step(secret, "12345", after=0, now=now) is None


def test_recovery_code_works_once(app, users, client, auth):
    auth.login("emp", "emppass12")
    _, codes = turn_on_totp(client, auth)
    fresh = app.test_client()
    _password_step(fresh)
    resp = _second_step(fresh, codes[3].lower().replace("-", " "))
    assert resp.status_code == 302
    assert "9 left" in fresh.get("/").get_data(as_text=True)
    again = app.test_client()
    _password_step(again)
    assert _second_step(again, codes[3]).status_code == 401


def test_new_recovery_codes_need_the_password_and_replace_the_old(app, users, client, auth):
    auth.login("emp", "emppass12")
    _, old = turn_on_totp(client, auth)
    resp = client.post("/account/recovery", data={"csrf_token": auth.csrf, "password": "nope"})
    assert resp.status_code == 302
    resp = client.post("/account/recovery", data={"csrf_token": auth.csrf, "password": "emppass12"})
    new = re.findall(r"<code>([A-Z0-9-]{19})</code>", resp.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    fresh = app.test_client()
    _password_step(fresh)
    assert _second_step(fresh, old[0]).status_code == 401
    assert _second_step(fresh, new[0]).status_code == 302


def test_wrong_codes_count_towards_the_login_limits(tmp_path, redis_server, prefix):
    from gateway import create_app

    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "login_limit": "1000 per minute", "network_login_limit": "3 per 15 minutes",
                      "account_login_limit": "100 per hour", "login_delay_max": 0.01})
    with app.app_context():
        ops.add_user("emp", "emppass12")
    client = app.test_client()
    auth = AuthActions(client)
    auth.login("emp", "emppass12")
    secret, _ = turn_on_totp(client, auth)
    fresh = app.test_client()
    _password_step(fresh)
    right = _code_at(secret, +1)
    wrong = "123456" if right != "123456" else "654321"
    statuses = [_second_step(fresh, wrong).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    resp = _second_step(fresh, right)
    assert resp.status_code == 429 and "Retry-After" in resp.headers   # the right code waits its turn too
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert actions.count("login_second_factor_failed") == 3 and "login_throttled" in actions


def test_pending_login_expires(app, users, client, auth, monkeypatch):
    from gateway.factors import login

    auth.login("emp", "emppass12")
    secret, _ = turn_on_totp(client, auth)
    fresh = app.test_client()
    _password_step(fresh)
    csrf = csrf_from(fresh.get("/login/second-factor").get_data(as_text=True))
    monkeypatch.setattr(login, "PENDING_TTL", 0)
    resp = fresh.post("/login/second-factor", data={"csrf_token": csrf, "code": _code_at(secret, +1)})
    assert resp.headers["Location"] == "/login"
    assert fresh.get("/").headers["Location"].startswith("/login")


def test_turning_off_needs_the_password(app, users, client, auth):
    auth.login("emp", "emppass12")
    turn_on_totp(client, auth)
    client.post("/account/totp/off", data={"csrf_token": auth.csrf, "password": "wrong"})
    with app.app_context():
        assert db.session.scalar(select(TotpFactor.confirmed_at)) is not None
    client.post("/account/totp/off", data={"csrf_token": auth.csrf, "password": "emppass12"})
    with app.app_context():
        assert db.session.scalar(select(TotpFactor.id)) is None
        assert db.session.scalar(select(RecoveryCode.id)) is None
    assert client.get("/").status_code == 200
    assert AuthActions(app.test_client()).login("emp", "emppass12").headers["Location"] == "/"
