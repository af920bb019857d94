"""Who may read ``/metrics`` (issue 17): a node's figures are every firm's sessions, so only the
provider's people — the metrics token (Prometheus's scrape, no browser), an admin or operator of
the default organisation — and never another firm's admin."""

from __future__ import annotations

import pytest

from gateway import create_app, ops, tenancy
from gateway.extensions import db
from gateway.ops.organisations import create_organisation
from tests.support.web import AuthActions

TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def app(tmp_path, redis_server, prefix):
    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "login_limit": "1000 per minute", "metrics_token": TOKEN})
    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True)
        ops.add_user("emp", "emppass12")
        ops.add_user("anna", "annapass12").is_operator = True
        db.session.commit()
        with tenancy.acting_for(create_organisation("Bianchi Srl", slug="bianchi").id):
            ops.add_user("boss", "bbosspass12", admin=True)
    return app


def _as(app, name, password, path="/login"):
    auth = AuthActions(app.test_client(), login_path=path)
    assert auth.login(name, password).status_code == 302
    return auth.client


@pytest.mark.parametrize("header,status", [
    ({}, 401), ({"Authorization": f"Bearer {TOKEN}"}, 200), ({"Authorization": "Bearer wrong"}, 401),
    ({"Authorization": TOKEN}, 401), ({"Authorization": f"Bearer {TOKEN}x"}, 401),
])
def test_the_scrape_path_needs_only_the_token(app, header, status):
    resp = app.test_client().get("/metrics", headers=header)
    assert resp.status_code == status
    if status == 200:
        assert "ponte_live_sessions" in resp.get_data(as_text=True)


def test_the_providers_people_read_it_and_a_firms_admin_does_not(app):
    assert _as(app, "boss", "bosspass1").get("/metrics").status_code == 200      # the default firm's admin
    assert _as(app, "anna", "annapass12").get("/metrics").status_code == 200     # an operator
    assert _as(app, "emp", "emppass12").get("/metrics").status_code == 403
    firm_admin = _as(app, "boss", "bbosspass12", "/o/bianchi/login")
    resp = firm_admin.get("/metrics")
    assert resp.status_code == 403 and "ponte_" not in resp.get_data(as_text=True)
