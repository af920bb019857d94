"""X-Forwarded-* is believed only from the configured number of reverse proxies."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.support.web import csrf_from


@pytest.mark.parametrize("trusted,expected_ip", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_audit_records_the_real_client_only_behind_trusted_proxies(tmp_path, redis_server, prefix,
                                                                    trusted, expected_ip):
    from gateway import create_app
    from gateway import ops
    from gateway.extensions import db
    from gateway.models import AuditEvent

    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "trusted_proxies": trusted})
    with app.app_context():
        ops.add_user("emp", "emppass12")
    client = app.test_client()
    # Over HTTPS Flask-WTF also checks the Referer, as a browser would send it.
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "Referer": "https://localhost/login"}
    page = client.get("/login", headers=headers).get_data(as_text=True)
    resp = client.post("/login", headers=headers,
                       data={"csrf_token": csrf_from(page), "name": "emp", "password": "emppass12"})
    assert resp.status_code == 302
    with app.app_context():
        login = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login")).one()
    assert login.ip == expected_ip
