"""Junk references (issue 9 item 9): every route of the URL map answers 4xx, never a 500 or a traceback.

``str.isdigit`` took ``²`` and ``١``, 20-digit ids overflowed SQLite, NUL bytes
in names break PostgreSQL: ids are parsed in one place (``gateway/refs.py``).
The ids of the WebSocket routes (an agent credential ``².x``, a stream
session) are driven against a real gateway in tests/e2e/test_socket_edge.py.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

import pytest

from gateway import refs
from gateway.extensions import db
from gateway.models import AuditEvent

JUNK = ["²", "١", "99999999999999999999999", "9223372036854775808", "-1", "0x1", " 1", "1e3", "a\x00b",
        "\u202e1", "0" * 40]
#: Where a junk object may lead, by verb: a plain refusal, or (admin forms) back to the page with a message.
FINE = {400, 403, 404, 405, 409, 302}


def _crashes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _send(client, csrf: str, method: str, url: str, form: dict | None = None):
    if url.startswith("/api/"):
        return client.open(url, method=method, json={} if method != "GET" else None, headers={"X-CSRFToken": csrf})
    data = {"csrf_token": csrf, **(form or {})} if method != "GET" else None
    return client.open(url, method=method, data=data)


@pytest.mark.parametrize("junk", JUNK, ids=[repr(j) for j in JUNK])
def test_junk_in_every_url_argument(app, world, login, caplog, junk):
    """As an admin (who may reach every route), each object of each route is ``junk``."""
    admin = login("boss")
    problems = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or getattr(rule, "websocket", False) or not rule.arguments:
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>",
                     lambda m: "x.css" if m.group(1) == "filename" else quote(junk, safe=""), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            caplog.clear()
            resp = _send(admin.client, admin.csrf, method, url)
            if resp.status_code not in FINE or _crashes(caplog):
                problems.append(f"{method} {url}: {resp.status_code} {_crashes(caplog)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("junk", ["²", "١", "99999999999999999999999", "-3"])
def test_junk_ids_in_forms_and_queries(app, world, login, caplog, junk):
    admin = login("boss")
    u, m, g = world.users["emp"], world.machines["desk-1"], world.groups["sales"]
    requests = [
        ("POST", f"/admin/users/{u}/grants", {"machine_id": junk}),
        ("POST", f"/admin/users/{u}/groups", {"group_id": junk}),
        ("POST", f"/admin/groups/{g}/members", {"user_id": junk}),
        ("POST", f"/admin/groups/{g}/grants", {"machine_id": junk}),
        ("POST", f"/admin/machines/{m}/grants", {"user_id": junk}),
        ("POST", f"/admin/machines/{m}/group-grants", {"group_id": junk}),
        ("POST", "/admin/tokens", {"user_id": junk, "name": "t"}),
        ("GET", f"/admin/history?offset={quote(junk)}", None),
        ("GET", f"/admin/audit?offset={quote(junk)}", None),
        ("GET", f"/api/v1/history?offset={quote(junk)}&limit={quote(junk)}", None),
        ("GET", f"/api/v1/audit?offset={quote(junk)}", None),
    ]
    problems = []
    for method, url, form in requests:
        caplog.clear()
        resp = _send(admin.client, admin.csrf, method, url, form)
        if resp.status_code >= 500 or _crashes(caplog):
            problems.append(f"{method} {url} {form}: {resp.status_code} {_crashes(caplog)}")
    assert not problems, "\n".join(problems)
    with app.app_context():  # nothing was granted to "user 1" through an Arabic-Indic digit
        from gateway import ops

        assert [gr.machine.name for gr in ops.get_user("emp").grants] == ["desk-1"]


def test_unicode_digits_are_not_another_spelling_of_an_id(app, world, login):
    admin = login("boss")
    uid = world.users["boss"]
    assert admin.client.get(f"/admin/users/{uid}").status_code == 200
    arabic = "".join(chr(0x660 + int(d)) for d in str(uid))
    assert admin.client.get(f"/admin/users/{arabic}").status_code == 404
    assert admin.client.get(f"/api/v1/users/{quote(arabic)}").status_code == 404


@pytest.mark.parametrize("ref, expected", [
    ("7", 7), ("007", 7), ("999999999999999999", 999999999999999999), ("9999999999999999999", None),
    ("²", None), ("١", None), ("-1", None), ("+1", None), (" 1", None), ("1\n", None), ("", None), (7, 7),
])
def test_record_id(ref, expected):
    assert refs.record_id(ref) == expected


def test_session_id_and_name_shapes():
    assert refs.session_id("0123456789abcdef" * 2) == "0123456789abcdef" * 2
    for junk in ("0123456789ABCDEF" * 2, "a" * 31, "a" * 33, "live-emp-0001", "a" * 31 + "\n"):
        assert refs.session_id(junk) is None
    assert refs.name("desk-1") == "desk-1" and refs.name("Città 東京") == "Città 東京"
    for junk in ("", "a\x00b", "a\nb", "x" * 256):
        assert refs.name(junk) is None


def test_login_name_with_controls_is_audited_clean(app, users, client, caplog):
    from tests.support.web import csrf_from

    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"csrf_token": token, "name": "bob\r\nlogin ok admin\x1b[2J\u202e", "password": "x"})
    assert resp.status_code == 401 and not _crashes(caplog)
    with app.app_context():
        row = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "login_failed")).one()
        assert row.actor == "bob login ok admin[2J"


def test_nul_in_names_on_postgresql(pg_url, redis_server, prefix, tmp_path, caplog):
    """PostgreSQL refuses a NUL in a query string: such a name must never reach it."""
    from gateway import create_app
    from gateway import ops
    from tests.support.web import AuthActions

    app = create_app({"instance_path": str(tmp_path / "pg"), "redis_url": redis_server, "redis_prefix": prefix,
                      "database_url": pg_url, "login_limit": "1000 per minute"})
    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True)
    try:
        client = app.test_client()
        auth = AuthActions(client)
        assert auth.login("a\x00b", "whatever1").status_code == 401
        assert auth.login("boss", "bosspass1").status_code == 302
        for url in ("/api/v1/users/a%00b", "/api/v1/machines/a%00b", "/api/v1/groups/a%00b", "/view/a%00b"):
            assert client.get(url).status_code in (403, 404), url
        assert not _crashes(caplog)
    finally:
        with app.app_context():
            db.engine.dispose()
