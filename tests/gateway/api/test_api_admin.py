"""Every admin action through the JSON API: bearer tokens, cookies with CSRF, errors per DESIGN §4."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from gateway import ops
from gateway.models import machine_for_user, utcnow


class Api:
    """A script with a bearer token (no cookie, no CSRF)."""

    def __init__(self, client, token):
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def __call__(self, method, path, json=None, expect=None):
        resp = self.client.open("/api/v1" + path, method=method, json=json, headers=self.headers)
        if expect is not None:
            assert resp.status_code == expect, (method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json() if resp.mimetype == "application/json" else resp


@pytest.fixture
def api(app, world) -> Api:
    return Api(app.test_client(), world.token)


def may_open(app, user, machine) -> bool:
    with app.app_context():
        return machine_for_user(ops.get_user(user), machine) is not None


def test_bearer_token_needs_no_csrf_and_no_cookie(api, app):
    body = api("POST", "/users", {"name": "scripted", "password": "scripted12"}, expect=201)
    assert body["user"]["name"] == "scripted"
    assert "Set-Cookie" not in api.client.get("/api/v1/me", headers=api.headers).headers


def test_bad_tokens_are_refused(app, world):
    c = app.test_client()
    for header in ("Bearer nope", "Bearer ponte_nope", "Basic Ym9zczpib3NzcGFzczE=", f"Token {world.token}"):
        resp = c.get("/api/v1/me", headers={"Authorization": header})
        assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    # tokens are for the API only: pages ignore them
    assert c.get("/admin/", headers={"Authorization": f"Bearer {world.token}"}).status_code == 302


def test_token_of_a_disabled_user_stops_working(api, app, world):
    with app.app_context():
        emp = ops.get_user("emp")
        _, secret = ops.create_token(emp, "emp's", actor="boss")
    emp_api = Api(app.test_client(), secret)
    assert emp_api("GET", "/me/machines", expect=200)["machines"][0]["name"] == "desk-1"
    emp_api("GET", "/users", expect=403)          # the token carries the user's rights, no more
    api("PATCH", "/users/emp", {"disabled": True}, expect=200)
    emp_api("GET", "/me/machines", expect=401)


def test_expired_token(app, world):
    from gateway.extensions import db
    from gateway.models import ApiToken

    with app.app_context():
        row, secret = ops.create_token(ops.get_user("boss"), "short", days=1, actor="boss")
        db.session.get(ApiToken, row.id).expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    Api(app.test_client(), secret)("GET", "/me", expect=401)


def test_cookie_api_needs_csrf(client, admin, world):
    resp = client.post("/api/v1/groups", json={"name": "nocsrf"})
    assert resp.status_code == 400
    resp = client.post("/api/v1/groups", json={"name": "withcsrf"}, headers=admin.headers())
    assert resp.status_code == 201


# -- users -----------------------------------------------------------------------------------------

def test_users(api, app, world, commands):
    assert {u["name"] for u in api("GET", "/users", expect=200)["users"]} == {"boss", "emp", "other"}
    u = api("POST", "/users", {"name": "nina", "password": "ninapass12", "admin": False}, expect=201)["user"]
    assert api("GET", f"/users/{u['id']}", expect=200)["user"]["name"] == "nina"
    assert api("GET", "/users/nina", expect=200)["user"]["id"] == u["id"]
    assert api("POST", "/users", {"name": "nina", "password": "ninapass12"}, expect=409)["error"]["code"] == "conflict"
    assert api("POST", "/users", {"name": "x", "password": "short"}, expect=400)["error"]["code"] == "invalid"
    assert api("POST", "/users", {"name": 5}, expect=400)["error"]["code"] == "bad_request"
    api("POST", "/users", ["not", "an", "object"], expect=400)

    api("PATCH", "/users/nina", {"password": "another123"}, expect=200)
    from tests.support.web import AuthActions
    assert AuthActions(app.test_client()).login("nina", "another123").status_code == 302
    assert api("PATCH", "/users/nina", {"admin": True}, expect=200)["user"]["admin"] is True
    assert api("PATCH", "/users/nina", {"admin": False}, expect=200)["user"]["admin"] is False
    api("PATCH", "/users/nina", {"admin": "yes"}, expect=400)
    api("PATCH", "/users/nina", {"colour": "red"}, expect=400)

    assert api("PATCH", "/users/emp", {"disabled": True}, expect=200)["user"]["disabled"] is True
    commands.wait(lambda c: c.get("cmd") == "end_user" and c["user_id"] == world.users["emp"])
    assert api("PATCH", "/users/emp", {"disabled": False}, expect=200)["user"]["disabled"] is False

    api("DELETE", "/users/nina", expect=200)
    api("GET", "/users/nina", expect=404)
    assert api("DELETE", "/users/boss", expect=400)["error"]["message"].startswith("You cannot delete your own")
    api("DELETE", "/users/999", expect=404)


# -- machines and grants ---------------------------------------------------------------------------

def test_machines(api, app, world, client, commands):
    created = api("POST", "/machines", {"name": "lab-pc"}, expect=201)
    code, machine_id = created["enrolment"]["code"], created["machine"]["id"]
    assert created["enrolment"]["command"] == f"python -m agents enroll --gateway http://localhost --code {code}"
    assert created["enrolment"]["expires_at"] and created["machine"]["status"]["state"] == "not_enrolled"
    # the code is not in any later answer
    assert code not in api("GET", f"/machines/{machine_id}", expect=200).__repr__()
    assert code not in str(api("GET", "/machines", expect=200))
    assert client.post("/api/v1/enroll", json={"code": code, "hostname": "LAB"}).status_code == 201
    got = api("GET", "/machines/lab-pc", expect=200)["machine"]
    assert got["enrolled_at"] and got["status"]["state"] == "offline" and got["status"]["hostname"] == "LAB"

    assert api("PATCH", f"/machines/{machine_id}", {"name": "lab-2"}, expect=200)["machine"]["name"] == "lab-2"
    api("PATCH", f"/machines/{machine_id}", {"name": "desk-1"}, expect=409)
    again = api("POST", f"/machines/{machine_id}/enrolment", expect=201)["enrolment"]
    assert again["code"] != code and again["command"].endswith(again["code"])

    revoked = api("POST", "/machines/desk-1/revoke", expect=200)["machine"]
    assert revoked["revoked_at"] and revoked["status"]["state"] == "revoked"
    commands.wait(lambda c: c.get("cmd") == "revoke" and c["machine_id"] == world.machines["desk-1"])

    api("DELETE", f"/machines/{machine_id}", expect=200)
    api("GET", f"/machines/{machine_id}", expect=404)
    api("POST", "/machines", {"name": "1234"}, expect=400)


def test_grants(api, app, world, commands):
    assert api("PUT", "/machines/desk-2/grants/emp", expect=201)["changed"] is True
    assert api("PUT", "/machines/desk-2/grants/emp", expect=200)["changed"] is False
    assert may_open(app, "emp", "desk-2")
    grants = api("GET", "/machines/desk-2/grants", expect=200)
    assert grants["users"] == [{"id": world.users["emp"], "name": "emp"}]
    assert api("DELETE", "/machines/desk-1/grants/emp", expect=200)["changed"] is True
    assert not may_open(app, "emp", "desk-1")
    commands.wait(lambda c: c.get("cmd") == "end" and c["session"] == world.live["emp"])
    api("PUT", "/machines/nope/grants/emp", expect=404)
    api("PUT", "/machines/desk-2/grants/nobody", expect=404)


def test_groups(api, app, world, commands):
    g = api("POST", "/groups", {"name": "support"}, expect=201)["group"]
    api("POST", "/groups", {"name": "support"}, expect=409)
    assert api("PUT", f"/groups/{g['id']}/members/emp", expect=200)["changed"] is True
    assert api("PUT", "/machines/desk-2/group-grants/support", expect=201)["changed"] is True
    assert may_open(app, "emp", "desk-2")
    body = api("GET", "/groups/support", expect=200)["group"]
    assert body["members"][0]["name"] == "emp" and body["machines"][0]["name"] == "desk-2"
    assert api("GET", "/machines/desk-2", expect=200)["machine"]["users_with_access"] == [
        {"id": world.users["emp"], "name": "emp"}]
    assert api("PATCH", "/groups/support", {"name": "helpdesk"}, expect=200)["group"]["name"] == "helpdesk"
    assert api("DELETE", "/machines/desk-2/group-grants/helpdesk", expect=200)["changed"] is True
    assert not may_open(app, "emp", "desk-2")
    api("PUT", "/machines/desk-2/group-grants/helpdesk", expect=201)
    assert api("DELETE", "/groups/helpdesk/members/emp", expect=200)["changed"] is True
    assert not may_open(app, "emp", "desk-2")
    assert [x["name"] for x in api("GET", "/groups", expect=200)["groups"]] == ["helpdesk", "sales"]
    api("DELETE", "/groups/sales", expect=200)
    assert not may_open(app, "other", "desk-3")
    commands.wait(lambda c: c.get("cmd") == "end" and c["session"] == world.live["other"])
    api("GET", "/groups/sales", expect=404)


# -- sessions, history, audit ----------------------------------------------------------------------

def test_live_sessions_and_end_with_reason(api, app, world, commands):
    rows = {s["id"]: s for s in api("GET", "/sessions", expect=200)["sessions"]}
    emp = rows[world.live["emp"]]
    assert (emp["user"], emp["machine"], emp["client_ip"]) == ("emp", "desk-1", "198.51.100.7")
    assert emp["duration_s"] >= 75 and emp["bytes_to_viewer"] == 123456 and emp["bytes_from_viewer"] == 789
    assert emp["started_at"].endswith("Z")
    body = api("DELETE", f"/sessions/{world.live['emp']}", {"reason": "Printer maintenance"}, expect=202)
    assert body["reason"] == "Printer maintenance"
    assert commands.wait(lambda c: c.get("cmd") == "end")["reason"] == "Printer maintenance"
    api("DELETE", "/sessions/gone", expect=404)


def test_history_and_audit(api, app, world):
    hist = api("GET", "/history?user=emp", expect=200)["history"]
    assert {h["user"] for h in hist} == {"emp"} and len(hist) == 2
    assert api("GET", "/history?machine=desk-3", expect=200)["history"][0]["user"] == "other"
    assert api("GET", "/history?until=2001-01-01", expect=200)["history"] == []
    assert api("GET", "/history?since=bad", expect=400)["error"]["code"] == "invalid"
    assert len(api("GET", "/history?limit=1", expect=200)["history"]) == 1
    resp = api("GET", "/history?format=csv&machine=desk-1")
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert resp.mimetype == "text/csv" and {r["machine"] for r in rows} == {"desk-1"}

    events = api("GET", "/audit?action=grant_group", expect=200)["audit"]
    assert events and events[0]["target"] == "group sales → desk-3"
    assert api("GET", "/audit?actor=boss&target=boss", expect=200)["audit"][-1]["action"] == "token_create"
    assert api("GET", "/audit?target=%25", expect=200)["audit"] == []   # LIKE wildcards are literal
    audit_csv = api("GET", "/audit?format=csv&action=user_add").get_data(as_text=True)
    assert audit_csv.startswith("at,actor,ip,action,target,detail")


def test_tokens(api, app, world):
    made = api("POST", "/tokens", {"name": "ci", "user": "emp", "days": 7}, expect=201)
    assert made["secret"].startswith("ponte_") and made["token"]["user"]["name"] == "emp"
    listed = api("GET", "/tokens", expect=200)["tokens"]
    assert made["secret"] not in str(listed) and {t["name"] for t in listed} == {"ci", "tests"}
    emp = Api(app.test_client(), made["secret"])
    emp("GET", "/me", expect=200)
    api("DELETE", f"/tokens/{made['token']['id']}", expect=200)
    emp("GET", "/me", expect=401)
    api("POST", "/tokens", {"days": "forever"}, expect=400)
    api("POST", "/tokens", {"days": 0}, expect=400)
    api("DELETE", "/tokens/999", expect=404)


def test_errors_are_json_everywhere_under_api(api, client):
    for method, path in (("GET", "/api/v1/nope"), ("PUT", "/api/v1/users"), ("GET", "/api/v1/users/999")):
        resp = api.client.open(path, method=method, headers=api.headers)
        body = resp.get_json()
        assert resp.status_code in (404, 405) and set(body["error"]) == {"code", "message"}, path
