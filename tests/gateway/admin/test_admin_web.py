"""Every admin action through the admin pages' forms (CSRF included), and its effect."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway import ops
from gateway.extensions import db
from gateway.models import AuditEvent, Group, Machine, SessionRecord, User, machine_for_user, utcnow


class Web:
    """The admin's browser: GET pages, POST forms with the page's CSRF token."""

    def __init__(self, client, csrf):
        self.client, self.csrf = client, csrf

    def get(self, path, **kw):
        return self.client.get(path, **kw)

    def post(self, path, follow=True, **data):
        return self.client.post(path, data={"csrf_token": self.csrf, **data}, follow_redirects=follow)


@pytest.fixture
def web(client, admin) -> Web:
    return Web(client, admin.csrf)


def audited(app, action: str, target: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).where(AuditEvent.action == action)
        rows = list(db.session.scalars(stmt))
        return [r for r in rows if target is None or target in r.target]


def user(app, name) -> User | None:
    with app.app_context():
        u = db.session.scalar(select(User).where(User.name == name))
        if u is not None:
            db.session.expunge(u)
        return u


def test_form_without_csrf_token_is_refused(client, admin, app):
    resp = client.post("/admin/users", data={"name": "sneaky", "password": "longenough1"})
    assert resp.status_code == 400
    assert user(app, "sneaky") is None


def test_every_admin_form_carries_a_csrf_token(web, world):
    pages = ["/admin/", "/admin/users", f"/admin/users/{world.users['emp']}", "/admin/groups",
             f"/admin/groups/{world.groups['sales']}", "/admin/machines", f"/admin/machines/{world.machines['desk-1']}",
             "/admin/sessions", "/admin/tokens", "/", "/view/desk-boss"]
    for page in pages:
        html = web.get(page).get_data(as_text=True)
        forms = re.findall(r"<form\b(.*?)</form>", html, re.S)
        assert forms or page in ("/view/desk-boss",), page
        for form in forms:
            if 'method="get"' in form or 'method="dialog"' in form:
                continue
            assert 'name="csrf_token"' in form, f"{page}: form without CSRF token: {form[:200]}"


# -- users -----------------------------------------------------------------------------------------

def test_create_user(web, app, users):
    resp = web.post("/admin/users", name="newbie", password="newbiepass1", admin="1")
    assert resp.status_code == 200 and "User newbie created." in resp.get_data(as_text=True)
    u = user(app, "newbie")
    assert u is not None and u.is_admin and not u.disabled
    assert audited(app, "user_add", "newbie")[0].actor == "boss"
    # errors come back as a plain sentence
    resp = web.post("/admin/users", name="newbie", password="newbiepass1")
    assert "exists already" in resp.get_data(as_text=True)
    resp = web.post("/admin/users", name="shorty", password="short")
    assert "at least 8 characters" in resp.get_data(as_text=True) and user(app, "shorty") is None


def test_disable_user_ends_sessions_and_logs_out(app, world, commands):
    emp_client = app.test_client()
    from tests.support.web import AuthActions
    AuthActions(emp_client).login("emp", "emppass12")
    assert emp_client.get("/").status_code == 200

    admin_client = app.test_client()
    a = AuthActions(admin_client)
    a.login("boss", "bosspass1")
    w = Web(admin_client, a.csrf)
    resp = w.post(f"/admin/users/{world.users['emp']}/disable")
    assert "is disabled" in resp.get_data(as_text=True)
    assert user(app, "emp").disabled
    cmd = commands.wait(lambda c: c.get("cmd") == "end_user")
    assert cmd["user_id"] == world.users["emp"]
    # the employee's cookie no longer works; the login form refuses them
    assert emp_client.get("/").status_code == 302
    assert AuthActions(app.test_client()).login("emp", "emppass12").status_code == 401
    assert audited(app, "user_disable", "emp")

    w.post(f"/admin/users/{world.users['emp']}/enable")
    assert not user(app, "emp").disabled
    assert audited(app, "user_enable", "emp")
    assert AuthActions(app.test_client()).login("emp", "emppass12").status_code == 302


def test_reset_password(web, app, world):
    uid = world.users["emp"]
    resp = web.post(f"/admin/users/{uid}/password", password="brandnew123", confirm="different1")
    assert "differ" in resp.get_data(as_text=True)
    resp = web.post(f"/admin/users/{uid}/password", password="brandnew123", confirm="brandnew123")
    assert "Password of emp changed." in resp.get_data(as_text=True)
    from tests.support.web import AuthActions
    assert AuthActions(app.test_client()).login("emp", "emppass12").status_code == 401
    assert AuthActions(app.test_client()).login("emp", "brandnew123").status_code == 302
    assert audited(app, "user_passwd", "emp")


def test_make_and_unmake_admin(web, app, world):
    uid = world.users["other"]
    web.post(f"/admin/users/{uid}/admin", admin="1")
    assert user(app, "other").is_admin
    web.post(f"/admin/users/{uid}/admin", admin="0")
    assert not user(app, "other").is_admin
    assert audited(app, "user_admin", "other") and audited(app, "user_unadmin", "other")


def test_admin_cannot_lock_themselves_out(web, app, world):
    uid = world.users["boss"]
    for path, data in ((f"/admin/users/{uid}/disable", {}), (f"/admin/users/{uid}/admin", {"admin": "0"}),
                       (f"/admin/users/{uid}/delete", {"confirm": "1"})):
        resp = web.post(path, **data)
        assert "your own account" in resp.get_data(as_text=True)
    u = user(app, "boss")
    assert u.is_admin and not u.disabled


def test_last_admin_cannot_be_removed_by_cli(app, users):
    with app.app_context():
        with pytest.raises(ops.AdminError, match="last active admin"):
            ops.set_admin(ops.get_user("boss"), False)


def test_delete_user_keeps_history_and_audit(web, app, world, commands):
    uid = world.users["emp"]
    resp = web.post(f"/admin/users/{uid}/delete")
    assert "Tick the box" in resp.get_data(as_text=True) and user(app, "emp") is not None
    resp = web.post(f"/admin/users/{uid}/delete", confirm="1")
    assert "User emp deleted" in resp.get_data(as_text=True)
    assert user(app, "emp") is None
    commands.wait(lambda c: c.get("cmd") == "end_user" and c["user_id"] == uid)
    with app.app_context():
        kept = db.session.get(SessionRecord, world.ended["emp"])
        assert kept is not None and kept.user_name == "emp"
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user_add",
                                                           AuditEvent.target == "emp")) is not None
        # a new user never inherits the deleted one's id (and so their history)
        fresh = ops.add_user("newcomer", "newcomer12")
        assert fresh.id > uid
    assert "emp" in web.get("/admin/history").get_data(as_text=True)
    assert web.get(f"/admin/users/{uid}").status_code == 404


# -- grants (from the user's and the machine's page) -----------------------------------------------

def test_grant_from_user_page(web, app, world, commands):
    uid, mid = world.users["emp"], world.machines["desk-2"]
    web.post(f"/admin/users/{uid}/grants", machine_id=str(mid))
    with app.app_context():
        assert machine_for_user(ops.get_user("emp"), mid) is not None
    assert audited(app, "grant", "emp → desk-2")
    page = web.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert "desk-2" in page
    # removing desk-1 (where emp has a live session) ends that session
    web.post(f"/admin/users/{uid}/grants/{world.machines['desk-1']}/delete")
    with app.app_context():
        assert machine_for_user(ops.get_user("emp"), world.machines["desk-1"]) is None
    cmd = commands.wait(lambda c: c.get("cmd") == "end" and c.get("session") == world.live["emp"])
    assert cmd["reason"] == ops.ACCESS_REMOVED
    assert audited(app, "ungrant", "emp → desk-1")


def test_grant_from_machine_page(web, app, world):
    mid, uid = world.machines["desk-2"], world.users["other"]
    resp = web.post(f"/admin/machines/{mid}/grants", user_id=str(uid))
    assert "Access granted." in resp.get_data(as_text=True)
    with app.app_context():
        assert machine_for_user(ops.get_user("other"), mid) is not None
    web.post(f"/admin/machines/{mid}/grants/{uid}/delete")
    with app.app_context():
        assert machine_for_user(ops.get_user("other"), mid) is None
    resp = web.post(f"/admin/machines/{mid}/grants", user_id="")
    assert "Choose one from the list" in resp.get_data(as_text=True)


def test_group_grant_from_machine_page(web, app, world, commands):
    mid, gid = world.machines["desk-2"], world.groups["sales"]
    web.post(f"/admin/machines/{mid}/group-grants", group_id=str(gid))
    with app.app_context():
        assert machine_for_user(ops.get_user("other"), mid) is not None   # other is in sales
        assert machine_for_user(ops.get_user("emp"), mid) is None
    page = web.get(f"/admin/machines/{mid}").get_data(as_text=True)
    assert "sales" in page
    web.post(f"/admin/machines/{world.machines['desk-3']}/group-grants/{gid}/delete")
    commands.wait(lambda c: c.get("cmd") == "end" and c.get("session") == world.live["other"])
    assert audited(app, "grant_group") and audited(app, "ungrant_group")


# -- groups ----------------------------------------------------------------------------------------

def test_groups(web, app, world, commands):
    resp = web.post("/admin/groups", name="accounts")
    assert "Group accounts created." in resp.get_data(as_text=True)
    with app.app_context():
        gid = db.session.scalar(select(Group.id).where(Group.name == "accounts"))
    web.post(f"/admin/groups/{gid}/members", user_id=str(world.users["emp"]))
    web.post(f"/admin/groups/{gid}/grants", machine_id=str(world.machines["desk-2"]))
    with app.app_context():
        assert machine_for_user(ops.get_user("emp"), world.machines["desk-2"]) is not None
    web.post(f"/admin/groups/{gid}/rename", name="accounting")
    assert "accounting" in web.get(f"/admin/groups/{gid}").get_data(as_text=True)
    web.post(f"/admin/groups/{gid}/grants/{world.machines['desk-2']}/delete")
    with app.app_context():
        assert machine_for_user(ops.get_user("emp"), world.machines["desk-2"]) is None
    # membership from the user's page
    web.post(f"/admin/users/{world.users['emp']}/groups", group_id=str(gid))
    web.post(f"/admin/groups/{gid}/grants", machine_id=str(world.machines["desk-2"]))
    web.post(f"/admin/users/{world.users['emp']}/groups/{gid}/delete")
    with app.app_context():
        assert machine_for_user(ops.get_user("emp"), world.machines["desk-2"]) is None
    web.post(f"/admin/users/{world.users['emp']}/groups", group_id=str(gid))
    web.post(f"/admin/groups/{gid}/members/{world.users['emp']}/delete")
    with app.app_context():
        assert ops.get_group(gid).members == []
    web.post(f"/admin/groups/{gid}/delete", confirm="1")
    with app.app_context():
        assert db.session.get(Group, gid) is None
    for action in ("group_add", "group_member_add", "group_member_remove", "grant_group", "ungrant_group",
                   "group_rename", "group_delete"):
        assert audited(app, action), action


def test_deleting_a_group_takes_its_access_away(web, app, world, commands):
    web.post(f"/admin/groups/{world.groups['sales']}/delete", confirm="1")
    with app.app_context():
        assert machine_for_user(ops.get_user("other"), world.machines["desk-3"]) is None
    commands.wait(lambda c: c.get("cmd") == "end" and c.get("session") == world.live["other"])


# -- machines --------------------------------------------------------------------------------------

def test_enrol_machine_shows_code_expiry_and_command(web, app, client, users):
    resp = web.post("/admin/machines", name="front-desk")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    code = re.search(r'id="enrol-code">([A-Z0-9-]+)<', html).group(1)
    assert f"python -m agents enroll --gateway http://localhost --code {code}" in html
    expiry = re.search(r'expires <time datetime="([^"]+)"', html).group(1)
    with app.app_context():
        m = ops.get_machine("front-desk")
        delta = m.codes[0].expires_at - utcnow()
        assert timedelta(hours=23, minutes=59) < delta <= timedelta(hours=24)
        assert expiry.startswith(m.codes[0].expires_at.isoformat()[:16])
    # the shown code enrols an agent exactly once
    r = client.post("/api/v1/enroll", json={"code": code, "hostname": "FRONT"})
    assert r.status_code == 201 and r.get_json()["machine"]["name"] == "front-desk"
    assert client.post("/api/v1/enroll", json={"code": code}).status_code == 403
    assert audited(app, "enrol", "front-desk") and audited(app, "machine_add", "front-desk")
    # the code is never shown again
    assert code not in web.get(f"/admin/machines/{r.get_json()['machine']['id']}").get_data(as_text=True)


def test_enrol_page_uses_public_url(tmp_path, redis_server, prefix):
    from gateway import create_app
    from tests.support.web import AuthActions

    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "public_url": "https://ponte.example.com"})
    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True)
    c = app.test_client()
    a = AuthActions(c)
    a.login("boss", "bosspass1")
    html = c.post("/admin/machines", data={"csrf_token": a.csrf, "name": "pc"}).get_data(as_text=True)
    assert "python -m agents enroll --gateway https://ponte.example.com --code " in html


def test_rename_machine(web, app, world):
    mid = world.machines["desk-1"]
    web.post(f"/admin/machines/{mid}/rename", name="reception")
    with app.app_context():
        assert db.session.get(Machine, mid).name == "reception"
    resp = web.post(f"/admin/machines/{mid}/rename", name="desk-2")
    assert "exists already" in resp.get_data(as_text=True)
    resp = web.post(f"/admin/machines/{mid}/rename", name="12345")
    assert "only digits" in resp.get_data(as_text=True)
    assert audited(app, "machine_rename", "reception")


def test_new_enrolment_code_replaces_the_old(web, app, client, users):
    mid = users["machine_id"]
    html = web.post(f"/admin/machines/{mid}/code").get_data(as_text=True)
    code = re.search(r'id="enrol-code">([A-Z0-9-]+)<', html).group(1)
    assert client.post("/api/v1/enroll", json={"code": users["code"]}).status_code == 403
    assert client.post("/api/v1/enroll", json={"code": code}).status_code == 201


def test_revoke_machine(web, app, world, commands):
    mid = world.machines["desk-1"]
    resp = web.post(f"/admin/machines/{mid}/revoke")
    assert "Tick the box" in resp.get_data(as_text=True)
    web.post(f"/admin/machines/{mid}/revoke", confirm="1")
    with app.app_context():
        assert db.session.get(Machine, mid).revoked_at is not None
    cmd = commands.wait(lambda c: c.get("cmd") == "revoke")
    assert cmd["machine_id"] == mid
    assert "Revoked" in web.get(f"/admin/machines/{mid}").get_data(as_text=True)
    assert audited(app, "machine_revoke", "desk-1")


def test_delete_machine(web, app, world, commands):
    mid = world.machines["desk-1"]
    web.post(f"/admin/machines/{mid}/delete", confirm="1")
    with app.app_context():
        assert db.session.get(Machine, mid) is None
        assert db.session.get(SessionRecord, world.ended["emp"]).machine_name == "desk-1"
    commands.wait(lambda c: c.get("cmd") == "revoke" and c["machine_id"] == mid)
    assert audited(app, "machine_delete", "desk-1")


def test_machine_status_page(web, app, world, users, client):
    assert client.post("/api/v1/enroll", json={"code": users["code"], "hostname": "DESK1"}).status_code == 201
    live = app.extensions["ponte.live"]
    live.agent_online(world.machines["desk-1"], "node-x", {"version": "9.8.7", "os": "Windows 11",
                                                           "hostname": "DESK1", "vnc_ok": True}, ttl=30)
    live.agent_online(world.machines["desk-2"], "node-x", {"version": "9.8.7", "os": "Linux", "vnc_ok": False,
                                                           "vnc_detail": "connection refused"}, ttl=30)
    html = web.get("/admin/machines").get_data(as_text=True)
    assert "9.8.7" in html and "Windows 11" in html and "Not usable" in html and "In use" in html
    page = web.get(f"/admin/machines/{world.machines['desk-2']}").get_data(as_text=True)
    assert "connection refused" in page and "Linux" in page
    # once the agent is gone, "last seen" and the last known facts remain (the control
    # channel writes them to SQL on hello and on disconnect: gateway/ws.py _note_seen)
    from gateway.models import note_agent_seen

    with app.app_context():
        note_agent_seen(db.session.get(Machine, world.machines["desk-1"]),
                        {"version": "9.8.7", "os": "Windows 11", "hostname": "DESK1"})
        db.session.commit()
    live.redis.delete(live.key("agent", world.machines["desk-1"]))
    page = web.get(f"/admin/machines/{world.machines['desk-1']}").get_data(as_text=True)
    assert "Offline" in page and "ago" in page and "Windows 11" in page


# -- live sessions ---------------------------------------------------------------------------------

def test_live_sessions_page_and_end_with_reason(web, app, world, commands, client):
    html = web.get("/admin/sessions").get_data(as_text=True)
    for text in ("emp", "desk-1", "198.51.100.7", "1 min", "120.6 KB", "789 B"):
        assert text in html, text
    resp = web.post(f"/admin/sessions/{world.live['emp']}/end", reason="Backup starts at 18:00")
    assert "The session is ending" in resp.get_data(as_text=True)
    cmd = commands.wait(lambda c: c.get("cmd") == "end")
    assert cmd == {"cmd": "end", "session": world.live["emp"], "reason": "Backup starts at 18:00"}
    # the node ends the relay; the viewer then reads the reason and does not reconnect
    from gateway import sessions
    with app.app_context():
        sessions.ended(world.live["emp"], world.machines["desk-1"], to_viewer=1, from_viewer=2,
                       reason=cmd["reason"])
    from tests.support.web import AuthActions
    emp = app.test_client()
    AuthActions(emp).login("emp", "emppass12")
    info = emp.get(f"/api/v1/sessions/{world.live['emp']}").get_json()
    assert info["end_reason"] == "Backup starts at 18:00" and info["ended_by"] == "boss"
    assert info["reconnect"] is False
    assert audited(app, "session_end_request", "desk-1")


def test_ending_a_gone_session_says_so(web, world):
    resp = web.post("/admin/sessions/nope/end", reason="x")
    assert "ended already" in resp.get_data(as_text=True)


# -- history and audit -----------------------------------------------------------------------------

def _history_rows(app, world):
    with app.app_context():
        old = SessionRecord(id="old-1", user_id=world.users["emp"], user_name="emp", machine_id=world.machines["desk-1"],
                            machine_name="desk-1", client_ip="192.0.2.1", started_at=utcnow() - timedelta(days=40),
                            ended_at=utcnow() - timedelta(days=40), end_reason="=HYPERLINK(\"http://evil\")")
        db.session.add(old)
        db.session.commit()


def test_history_filters_and_csv(web, app, world):
    _history_rows(app, world)
    html = web.get("/admin/history?user=other").get_data(as_text=True)
    assert "desk-3" in html and world.ended["emp"] not in html and "198.51.100.7" in html
    html = web.get("/admin/history?machine=desk-1").get_data(as_text=True)
    assert "desk-3</td>" not in html and "desk-1</td>" in html
    day = (utcnow() - timedelta(days=40)).date().isoformat()
    html = web.get(f"/admin/history?since={day}&until={day}").get_data(as_text=True)
    assert "192.0.2.1" in html and "203.0.113.9" not in html
    html = web.get(f"/admin/history?until={day}").get_data(as_text=True)
    assert "192.0.2.1" in html and "203.0.113.9" not in html
    html = web.get("/admin/history?since=not-a-date").get_data(as_text=True)
    assert "is not a date" in html

    resp = web.get("/admin/history.csv?user=emp")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert {r["user"] for r in rows} == {"emp"} and len(rows) == 3
    old = next(r for r in rows if r["session"] == "old-1")
    assert old["end_reason"].startswith("'=")   # a spreadsheet will not run it


def test_audit_log_records_and_filters(web, app, world, client):
    from tests.support.web import AuthActions
    AuthActions(app.test_client()).login("emp", "wrong-password")
    web.post(f"/admin/users/{world.users['other']}/admin", admin="1")
    from gateway import sessions
    with app.app_context():
        sessions.started("s-audit", ops.get_user("emp"), ops.get_machine("desk-1"), "192.0.2.50", "n1")
        sessions.ended("s-audit", world.machines["desk-1"], to_viewer=1, from_viewer=1, reason="viewer closed")
    html = web.get("/admin/audit").get_data(as_text=True)
    for action in ("login", "login_failed", "user_admin", "session_start", "session_end", "grant", "token_create"):
        assert f"<code>{action}</code>" in html, action
    html = web.get("/admin/audit?action=login_failed").get_data(as_text=True)
    assert "wrong name or password" in html and "<code>user_admin</code>" not in html
    html = web.get("/admin/audit?actor=boss&action=user_admin").get_data(as_text=True)
    assert "other" in html and "127.0.0.1" in html
    today = utcnow().date().isoformat()
    assert "<code>login</code>" in web.get(f"/admin/audit?since={today}&until={today}").get_data(as_text=True)
    assert "No events match" in web.get("/admin/audit?until=2001-01-01").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(web.get("/admin/audit.csv?action=session_start").get_data(as_text=True))))
    assert rows and all(r["action"] == "session_start" for r in rows) and rows[0]["ip"] == "192.0.2.50"


# -- API tokens ------------------------------------------------------------------------------------

def test_tokens_created_shown_once_and_revoked(web, app, world, client):
    resp = web.post("/admin/tokens", name="sync script", user_id=str(world.users["boss"]), days="30")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    secret = re.search(r'id="token-secret">(ponte_[^<]+)<', html).group(1)
    anon = app.test_client()
    me = anon.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.get_json()["user"]["name"] == "boss"
    listing = web.get("/admin/tokens").get_data(as_text=True)
    assert "sync script" in listing and secret not in listing
    with app.app_context():
        from gateway.models import ApiToken
        row = db.session.scalar(select(ApiToken).where(ApiToken.name == "sync script"))
        assert row.token_hash != secret and secret not in (row.token_hash, row.prefix)
        token_id = row.id
    web.post(f"/admin/tokens/{token_id}/revoke")
    assert anon.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert audited(app, "token_create") and audited(app, "token_revoke")
    resp = web.post("/admin/tokens", name="bad", days="soon")
    assert "whole number" in resp.get_data(as_text=True)
