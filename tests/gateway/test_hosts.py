"""URLs the gateway hands out never come from an unchecked Host header (issue 9 item 6)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT
from tests.support.web import AuthActions

EVIL = "evil.example"


def make_app(tmp_path, redis_server, prefix, **settings):
    from gateway import create_app
    from gateway import ops

    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "login_limit": "1000 per minute", **settings})
    with app.app_context():
        boss = ops.add_user("boss", "bosspass1", admin=True)
        machine, _ = ops.add_machine("desk-1")
        ops.grant(boss, machine)
    return app


def answers(app, host: str) -> list:
    """Every answer that embeds a gateway URL, asked by a logged-in admin with ``Host: host``."""
    client = app.test_client()
    boss = AuthActions(client)
    # The login itself is made on an allowed host; the attacker's Host comes later, with the
    # same cookie (sent by hand: the test client would keep it for its own host only).
    assert boss.login("boss", "bosspass1").status_code == 302
    cookie = f"ponte_session={client.get_cookie('ponte_session').value}"
    other = app.test_client(use_cookies=False)
    api = {"Host": host, "Cookie": cookie, "X-CSRFToken": boss.csrf}
    return [other.post("/api/v1/machines", json={"name": "pc-api"}, headers=api),
            other.post("/api/v1/machines/desk-1/enrolment", headers=api),
            other.post("/admin/machines", data={"csrf_token": boss.csrf, "name": "pc-page"},
                       headers={"Host": host, "Cookie": cookie}),
            other.post("/api/v1/machines/desk-1/sessions", json={}, headers=api)]


def test_unlisted_host_is_refused_without_public_url(tmp_path, redis_server, prefix):
    app = make_app(tmp_path, redis_server, prefix)
    for resp in answers(app, EVIL):
        assert resp.status_code == 400, resp.request.path
        assert EVIL not in resp.get_data(as_text=True)
    from gateway.models import find_machine

    with app.app_context():   # refused before anything changed: no PC made, no code spent
        assert find_machine("pc-api") is None and find_machine("pc-page") is None


def test_public_url_is_used_whatever_the_host(tmp_path, redis_server, prefix):
    app = make_app(tmp_path, redis_server, prefix, public_url="https://ponte.example.com")
    created, code, page, session = answers(app, EVIL)
    assert created.status_code == 201 and code.status_code == 201 and page.status_code == 201
    assert session.status_code == 201
    for resp in (created, code, page, session):
        assert EVIL not in resp.get_data(as_text=True)
    assert "--gateway https://ponte.example.com " in created.get_json()["enrolment"]["command"]
    assert session.get_json()["ws_url"].startswith("wss://ponte.example.com/ws/view")


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:9999", "ponte.lan"])
def test_allowed_hosts_are_used_without_public_url(tmp_path, redis_server, prefix, host):
    app = make_app(tmp_path, redis_server, prefix, allowed_hosts="ponte.lan,127.0.0.1,localhost")
    created, _code, page, session = answers(app, host)
    assert created.status_code == 201 and page.status_code == 201 and session.status_code == 201
    assert f"--gateway http://{host} " in created.get_json()["enrolment"]["command"]
    assert session.get_json()["ws_url"].startswith(f"ws://{host}/ws/view")


def test_default_allowed_hosts_are_the_bind_address_and_loopback(tmp_path, redis_server, prefix):
    app = make_app(tmp_path, redis_server, prefix, bind="10.1.2.3")
    assert set(app.config["PONTE"].trusted_hosts) == {"10.1.2.3", "localhost", "127.0.0.1", "::1"}
    for host, status in (("10.1.2.3:8080", 201), ("[::1]:8080", 201), (EVIL, 400), ("10.1.2.3.evil.example", 400)):
        assert answers(app, host)[-1].status_code == status, host


def serve(tmp_path, redis_url: str, bind: str, public_url: str = "") -> str:
    """What ``python -m gateway serve`` says on stderr before it listens (or fails to)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
    env.update({"PONTE_INSTANCE_PATH": str(tmp_path), "PONTE_BIND": bind, "PONTE_PORT": "0",
                "PONTE_PUBLIC_URL": public_url, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)})
    # 192.0.2.1 (TEST-NET-1) is on no interface here: serve warns, then cannot bind and exits,
    # so nothing ever listens beyond loopback.
    res = subprocess.run([sys.executable, "-m", "gateway", "serve"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode != 0, res.stderr
    return res.stderr


@pytest.mark.slow
def test_serve_warns_when_public_url_is_unset_on_a_non_loopback_bind(tmp_path, redis_server):
    said = serve(tmp_path / "a", redis_server, "192.0.2.1")
    assert "WARNING" in said and said.count("public_url is not set") >= 2   # logged, and printed
    assert "public_url is not set" not in serve(tmp_path / "b", redis_server, "192.0.2.1",
                                                "https://ponte.example.com")


def test_no_warning_on_loopback(gateway_factory):
    gw = gateway_factory()
    assert "listening on" in gw.log_tail() and "public_url is not set" not in gw.log_tail()
