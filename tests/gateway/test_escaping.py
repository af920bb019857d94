"""Names people type (users, PCs, groups, tokens, end reasons) with <script> and quotes are shown
escaped on every page; JSON and CSV are served with types a browser will not render as HTML."""

from __future__ import annotations

import pytest

from gateway import ops
from gateway import sessions
from tests.support.records import add_live_session, add_recording, session_ref
from tests.support.web import AuthActions

EVIL = '<script>alert("pwn")</script>\'"'
RAW = ('<script>alert', 'alert("pwn")', "</script>'\"")


@pytest.fixture
def evil(app, world):
    with app.app_context():
        u = ops.add_user(EVIL + "u", "evilpass12")
        m, _ = ops.add_machine(EVIL + "m")
        g = ops.add_group(EVIL + "g")
        ops.grant(u, m)
        ops.add_member(g, u)
        ops.grant(g, m)
        ops.grant(ops.get_user("emp"), m)
        t, _ = ops.create_token(u, EVIL + "t", actor="boss")
        add_live_session(app, session_ref("evil-live"), u, m)
        add_recording(app, session_ref("evil-live"))  # so the player page has a recording to show, with the names
        add_live_session(app, "evil-ended", u, m)
        sessions.ended("evil-ended", m.id, to_viewer=1, from_viewer=1, reason=EVIL + "reason")
        app.extensions["ponte.live"].agent_online(m.id, "n", {"version": EVIL, "os": EVIL, "hostname": EVIL,
                                                             "vnc_ok": False, "vnc_detail": EVIL}, ttl=30)
        ops.enrol_agent(ops.new_enrolment(m), EVIL, "127.0.0.1")
        AuthActions(app.test_client()).login(EVIL + "u", "wrong-password")   # audit: login_failed
        return {"user": u.id, "machine": m.id, "group": g.id, "token": t.id, "session": session_ref("evil-live")}


def assert_escaped(body: str, where: str) -> None:
    for raw in RAW:
        assert raw not in body, f"{where}: unescaped {raw!r}"


def pages(app, values: dict, prefixes: tuple[str, ...]):
    adapter = app.url_map.bind("localhost")
    arg_kind = {"user_id": "user", "machine_id": "machine", "group_id": "group", "token_id": "token",
                "session_id": "session", "machine": "machine"}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith(prefixes) or getattr(rule, "websocket", False):
            continue
        yield adapter.build(rule.endpoint, {a: values[arg_kind[a]] for a in rule.arguments})


def test_admin_pages_escape_names(app, client, admin, evil):
    seen = 0
    for url in pages(app, evil, ("/admin",)):
        resp = client.get(url)
        assert resp.status_code == 200, url
        body = resp.get_data(as_text=True)
        if resp.mimetype == "text/csv":
            assert "attachment" in resp.headers["Content-Disposition"]
            continue
        assert resp.mimetype == "text/html"
        assert_escaped(body, url)
        seen += "&lt;script&gt;alert(" in body
    assert seen >= 10   # the names really are on the pages, escaped


def test_flash_messages_and_forms_escape_names(app, client, admin, evil):
    resp = client.post("/admin/users", data={"csrf_token": admin.csrf, "name": EVIL + "u", "password": "x" * 9},
                       follow_redirects=True)
    assert "exists already" in resp.get_data(as_text=True)
    assert_escaped(resp.get_data(as_text=True), "duplicate user flash")
    resp = client.post("/admin/machines", data={"csrf_token": admin.csrf, "name": EVIL + "2"})
    assert resp.status_code == 201
    assert_escaped(resp.get_data(as_text=True), "enrolment page")
    resp = client.post("/admin/tokens", data={"csrf_token": admin.csrf, "name": EVIL + "x"})
    assert_escaped(resp.get_data(as_text=True), "token page")
    resp = client.post(f"/admin/users/{evil['user']}/disable", data={"csrf_token": admin.csrf}, follow_redirects=True)
    assert_escaped(resp.get_data(as_text=True), "disable flash")


def test_portal_and_viewer_escape_names(app, client, login, evil):
    login("emp")
    for url in ("/", f"/view/{evil['machine']}"):
        body = client.get(url).get_data(as_text=True)
        assert "&lt;script&gt;" in body, url
        assert_escaped(body, url)
    # the logged-in user's own name in the header, too
    c2 = app.test_client()
    with app.app_context():
        ops.set_disabled(ops.get_user(evil["user"]), False)
    AuthActions(c2).login(EVIL + "u", "evilpass12")
    assert_escaped(c2.get("/").get_data(as_text=True), "portal of the evil user")


def test_error_pages_escape_the_url(client, login, evil):
    login("emp")
    resp = client.get("/view/" + EVIL.replace("/", ""))
    assert resp.status_code == 403
    assert_escaped(resp.get_data(as_text=True), "403 page")
    resp = client.get("/no/" + EVIL)
    assert resp.status_code == 404
    assert_escaped(resp.get_data(as_text=True), "404 page")


def test_json_is_never_html(app, evil, world):
    c = app.test_client()
    headers = {"Authorization": f"Bearer {world.token}"}
    for path in ("/api/v1/users", "/api/v1/machines", "/api/v1/groups", "/api/v1/tokens", "/api/v1/audit",
                 "/api/v1/history", "/api/v1/sessions", f"/api/v1/users/{evil['user']}"):
        resp = c.get(path, headers=headers)
        assert resp.status_code == 200 and resp.mimetype == "application/json", path
        assert any(v.startswith(EVIL) for v in strings(resp.get_json())), path   # intact, just not HTML


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
