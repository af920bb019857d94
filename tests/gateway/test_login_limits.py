"""Login limits stop guessing without handing anyone a lock-out (issue 9 item 4).

Failed logins count per (account, client network) and per account; a
network with no recent failures may always try its password. Flask test
client, real Redis, ``REMOTE_ADDR`` per request.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from tests.support.web import AuthActions, csrf_from


def make_app(tmp_path, redis_server, prefix, **limits):
    from gateway import create_app
    from gateway import ops

    settings = {"login_limit": "1000 per minute", "login_delay_max": 0.01, **limits}
    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      **settings})
    with app.app_context():
        ops.add_user("emp", "emppass12")
        ops.add_user("bob", "bobs-right-pw1")
        ops.add_user("boss", "bosspass1", admin=True)
    return app


@pytest.fixture
def app(tmp_path, redis_server, prefix):
    return make_app(tmp_path, redis_server, prefix)


RIGHT = {"emp": "emppass12", "bob": "bobs-right-pw1", "boss": "bosspass1"}


def attempt(app, name: str, ip: str, password: str = "wrong-password") -> int:
    client = app.test_client()
    env = {"REMOTE_ADDR": ip}
    page = client.get("/login", environ_base=env).get_data(as_text=True)
    return client.post("/login", environ_base=env, data={
        "csrf_token": csrf_from(page), "name": name, "password": password}).status_code


def test_too_many_failures_from_one_address(tmp_path, redis_server, prefix):
    app = make_app(tmp_path, redis_server, prefix, login_limit="5 per minute")
    # Different names each time, so only the per-address limit can apply.
    codes = [attempt(app, f"guess{n}", "10.9.8.7") for n in range(6)]
    assert codes == [401] * 5 + [429]
    assert attempt(app, "emp", "10.9.8.8", "emppass12") == 302   # another address is not affected


def test_an_office_behind_one_address_can_all_log_in(tmp_path, redis_server, prefix):
    app = make_app(tmp_path, redis_server, prefix, login_limit="5 per minute")
    # Successful logins cost nothing: a whole office behind one NAT address logs in at 9:00.
    assert [attempt(app, "emp", "192.0.2.1", "emppass12") for _ in range(8)] == [302] * 8


@pytest.mark.parametrize("victim", ["bob", "boss"])
def test_the_reported_lockout_no_longer_works(app, victim):
    # The scenario with the default limits: 20 wrong passwords for the account from two
    # addresses, spelt as the attacker likes; then the real person, from home.
    spellings = [victim, victim.upper(), f" {victim} ", victim.capitalize()]
    codes = [attempt(app, spellings[n % 4], ("198.51.100.4", "203.0.113.9")[n % 2]) for n in range(20)]
    assert codes == [401] * 20
    assert attempt(app, victim, "192.0.2.77", RIGHT[victim]) == 302
    # The attackers' networks, though, may not go on guessing this account.
    assert attempt(app, victim, "198.51.100.5") == 429
    assert attempt(app, victim, "203.0.113.200", RIGHT[victim]) == 429


def test_brute_force_from_one_network_is_stopped(app):
    limit = 10   # default network_login_limit: 10 per 15 minutes
    codes = [attempt(app, "bob", f"198.51.100.{n}") for n in range(1, limit + 1)]
    assert codes == [401] * limit
    # Every address of that /24 is one attacker as far as bob's account is concerned...
    assert attempt(app, "bob", "198.51.100.250") == 429
    # ...and IPv6 counts per /64.
    v6 = [attempt(app, "bob", f"2001:db8:1:2::{n:x}") for n in range(1, limit + 2)]
    assert v6 == [401] * limit + [429]
    assert attempt(app, "bob", "2001:db8:1:3::1", RIGHT["bob"]) == 302
    # Other accounts are not touched by bob's attacker.
    assert attempt(app, "emp", "198.51.100.250", "emppass12") == 302


def test_account_names_share_a_bucket_however_spelt(tmp_path, redis_server, prefix):
    app = make_app(tmp_path, redis_server, prefix, network_login_limit="4 per 15 minutes")
    for name in ("BOB", " bob ", "\uff42\uff4f\uff42", "Bob\u200b".replace("\u200b", "")):   # fullwidth ｂｏｂ
        assert attempt(app, name, "198.51.100.1") == 401
    assert attempt(app, "bob", "198.51.100.2", RIGHT["bob"]) == 429


def test_many_networks_are_slowed_by_the_account_rate(tmp_path, redis_server, prefix):
    delay = 0.05
    app = make_app(tmp_path, redis_server, prefix, account_login_limit="8 per hour", login_delay_max=delay)
    checked = refused = 0
    for round_ in range(5):
        for net in range(12):
            code = attempt(app, "bob", f"10.{net}.0.{round_ + 1}")
            checked += code == 401
            refused += code == 429
    # Each network could fail 5 times here (network limit 10), 60 guesses. Once the account has
    # 8 failures it is under attack: every network may fail only 3 times in the window.
    assert (checked, refused) == (36, 24)
    # While the account is under attack every try waits (cooperatively), the real person's too.
    started = time.monotonic()
    assert attempt(app, "bob", "192.0.2.50", RIGHT["bob"]) == 302
    assert time.monotonic() - started >= delay


def test_delay_grows_exponentially_and_is_bounded():
    from gateway.throttle import delay_for

    assert [delay_for(n, under_attack=False, cap=5.0) for n in range(8)] == [0, 0.25, 0.5, 1, 2, 4, 5, 5]
    assert delay_for(0, under_attack=True, cap=5.0) == 5.0


def test_attacks_are_audited_and_shown_to_admins(tmp_path, redis_server, prefix):
    from gateway.extensions import db
    from gateway.models import AuditEvent

    app = make_app(tmp_path, redis_server, prefix, network_login_limit="3 per 15 minutes",
                   account_login_limit="5 per hour")
    for n in range(8):
        attempt(app, "bob", f"10.{n % 4}.0.1")
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login_throttled")))
    # one event when a limit trips, not one per refused try
    assert {e.target for e in events} == {"bob"} and 1 <= len(events) <= 4
    assert any("under attack" in e.detail for e in events)

    client = app.test_client()
    boss = AuthActions(client)
    assert boss.login("boss", "bosspass1").status_code == 302
    users = {u["name"]: u for u in client.get("/api/v1/users").get_json()["users"]}
    assert users["bob"]["under_attack"] is True and users["emp"]["under_attack"] is False
    attacks = client.get("/api/v1/login-attacks").get_json()["attacks"]
    assert [a["account"] for a in attacks] == ["bob"]
    assert attacks[0]["failed_logins"] >= 5 and attacks[0]["networks"] == 4
    assert attacks[0]["user"] == {"id": users["bob"]["id"], "name": "bob"}
    overview = client.get("/admin/").get_data(as_text=True)
    assert "Accounts under attack" in overview and "bob" in overview
