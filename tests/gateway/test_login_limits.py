"""Logins are rate-limited per client address and, for failures, per account (Flask-Limiter on Redis)."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_from


@pytest.fixture
def limited_app(tmp_path, redis_server, prefix):
    from gateway import create_app
    from gateway import machines as ops

    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "login_limit": "5 per minute", "account_login_limit": "3 per hour"})
    with app.app_context():
        ops.add_user("emp", "emppass12")
    return app


def attempt(app, password: str, ip: str, name: str = "emp") -> int:
    client = app.test_client()
    env = {"REMOTE_ADDR": ip}
    page = client.get("/login", environ_base=env).get_data(as_text=True)
    return client.post("/login", environ_base=env, data={
        "csrf_token": csrf_from(page), "name": name, "password": password}).status_code


def test_too_many_attempts_from_one_address(limited_app):
    # Different names each time, so only the per-address limit can apply.
    codes = [attempt(limited_app, "wrong-password", "10.9.8.7", name=f"guess{n}") for n in range(6)]
    assert codes == [401] * 5 + [429]
    # Another address is not affected by this one's limit.
    assert attempt(limited_app, "emppass12", "10.9.8.8") == 302


def test_failed_logins_lock_the_account_from_any_address(limited_app):
    assert [attempt(limited_app, "wrong-password", f"10.0.0.{n}") for n in range(3)] == [401] * 3
    # Guessing from many addresses does not help: the account's limit is reached.
    assert attempt(limited_app, "emppass12", "10.0.0.99") == 429


def test_successful_logins_do_not_count_against_the_account(limited_app):
    assert [attempt(limited_app, "emppass12", f"10.1.0.{n}") for n in range(4)] == [302] * 4
