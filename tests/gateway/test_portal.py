"""The employee portal, the status API behind its tiles, the viewer page and session end reasons."""

from __future__ import annotations

import re

import pytest

from gateway import ops
from gateway import sessions
from gateway.machine_status import MESSAGES


@pytest.fixture
def emp(client, login, world):
    return login("emp")


def online(app, machine_id, vnc_ok=True, detail=""):
    app.extensions["ponte.live"].agent_online(machine_id, "node-x", {"version": "1.0", "os": "Linux",
                                                                     "hostname": "h", "vnc_ok": vnc_ok,
                                                                     "vnc_detail": detail}, ttl=30)


def enrol(app, name):
    with app.app_context():
        code = ops.new_enrolment(ops.get_machine(name))
        ops.enrol_agent(code, "host", "127.0.0.1")


def tiles(client):
    return {m["name"]: m for m in client.get("/api/v1/me/machines").get_json()["machines"]}


def test_tile_states(app, client, emp, world):
    assert tiles(client)["desk-1"]["state"] == "not_enrolled"
    enrol(app, "desk-1")
    t = tiles(client)["desk-1"]
    assert t["state"] == "offline" and t["message"] == MESSAGES["offline"] and t["available"] is False
    online(app, world.machines["desk-1"], vnc_ok=False, detail="refused")
    assert tiles(client)["desk-1"]["state"] == "vnc_down"
    online(app, world.machines["desk-1"])
    assert tiles(client)["desk-1"]["state"] == "in_use"           # emp's live session from the world
    app.extensions["ponte.live"].session_ended(world.live["emp"], world.machines["desk-1"])
    t = tiles(client)["desk-1"]
    assert t["state"] == "online" and t["available"] is True
    # employees see the state, not the agent's internals
    assert set(t) == {"id", "name", "state", "message", "last_seen", "available", "wakeable"}
    with app.app_context():
        ops.revoke_machine(ops.get_machine("desk-1"))
    assert tiles(client)["desk-1"]["state"] == "revoked"


def test_portal_page(app, client, emp, world):
    enrol(app, "desk-1")
    html = client.get("/").get_data(as_text=True)
    assert 'class="tile state-offline"' in html and MESSAGES["offline"] in html
    assert 'aria-disabled="true"' in html
    assert "desk-2" not in html and "desk-3" not in html
    online(app, world.machines["desk-1"])
    html = client.get("/").get_data(as_text=True)
    assert 'class="tile state-in_use"' in html
    assert re.search(r'src="/assets/v[0-9a-f]{16}/portal\.js"', html)  # versioned: cached for a year


def test_portal_sees_new_grants_through_the_api(app, client, emp, world):
    assert set(tiles(client)) == {"desk-1"}
    with app.app_context():
        ops.grant(ops.get_user("emp"), ops.get_machine("desk-2"))
    assert set(tiles(client)) == {"desk-1", "desk-2"}


def test_viewer_page_has_its_controls(client, emp, world):
    resp = client.get("/view/desk-1")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    for element in ('id="scale"', 'id="fullscreen"', 'id="cad"', 'id="paste-open"', 'id="quality"',
                    'id="disconnect"', 'id="reconnect"', 'id="status"', 'role="toolbar"', 'id="overlay"',
                    'id="more"', 'id="keyboard"', 'id="touch-keys"', 'id="back-to-pcs"'):
        assert element in html, element
    assert re.search(r'data-novnc="/novnc/v\d+\.\d+\.\d+/core/rfb\.js"', html)
    # nothing from another site
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_assets_are_served_and_allow_listed(client):
    for name in ("viewer.js", "portal.js", "admin.js", "style.css"):
        assert client.get(f"/assets/{name}").status_code == 200, name
    assert client.get("/assets/package.json").status_code == 404
    assert client.get("/novnc/core/rfb.js").status_code == 200
    assert client.get("/novnc/core/input/keysymdef.js").status_code == 200
    assert client.get("/novnc/package.json").status_code == 404


def test_viewer_js_never_uses_innerhtml():
    from gateway.app import NOVNC_STATIC

    for name in ("viewer.js", "portal.js", "admin.js", "viewer_state.js", "viewer_chrome.js", "viewer_touch.js",
                 "viewer_clipboard.js"):
        text = (NOVNC_STATIC / name).read_text()
        assert not re.search(r"\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write", text), name
    viewer = (NOVNC_STATIC / "viewer.js").read_text()
    for api in ("clipboardPasteFrom", "qualityLevel", "compressionLevel", "sendCtrlAltDel", "scaleViewport",
                "requestFullscreen", "nameEl.textContent ="):
        assert api in viewer, api


def _end(app, world, reason, ended_by=""):
    from gateway.extensions import db
    from gateway.models import SessionRecord

    with app.app_context():
        if ended_by:
            db.session.get(SessionRecord, world.live["emp"]).ended_by = ended_by
            db.session.commit()
        sessions.ended(world.live["emp"], world.machines["desk-1"], to_viewer=1, from_viewer=1, reason=reason)


def test_session_status_for_a_dropped_link_says_reconnect(app, client, emp, world):
    live = client.get(f"/api/v1/sessions/{world.live['emp']}").get_json()
    assert live["state"] == "live" and live["reconnect"] is True
    _end(app, world, "connection lost (agent→viewer: OSError)")
    body = client.get(f"/api/v1/sessions/{world.live['emp']}").get_json()
    assert body["state"] == "ended" and body["reconnect"] is True and body["ended_by"] is None


def test_session_status_after_an_admin_end_or_lost_access_says_stop(app, client, emp, world):
    _end(app, world, "Going home", ended_by="boss")
    body = client.get(f"/api/v1/sessions/{world.live['emp']}").get_json()
    assert body == {"session": world.live["emp"], "state": "ended", "machine": "desk-1",
                    "end_reason": "Going home", "end_reason_text": "Going home", "ended_by": "boss", "reconnect": False}
    # an ended session whose PC the user can no longer open: no reconnect either
    body = client.get(f"/api/v1/sessions/{world.ended['emp']}").get_json()
    assert body["reconnect"] is True
    with app.app_context():
        ops.ungrant(ops.get_user("emp"), ops.get_machine("desk-1"))
    assert client.get(f"/api/v1/sessions/{world.ended['emp']}").get_json()["reconnect"] is False


def test_open_session_on_revoked_machine_is_a_plain_refusal(app, client, emp, world):
    with app.app_context():
        ops.revoke_machine(ops.get_machine("desk-1"))
    resp = client.post("/api/v1/machines/desk-1/sessions", json={}, headers=emp.headers())
    assert resp.status_code == 409 and "revoked" in resp.get_json()["error"]["message"]


def test_logout_forgets_the_login_time(client, emp):
    from gateway.auth import AUTH_AT

    with client.session_transaction() as sess:
        assert AUTH_AT in sess
    emp.logout()
    with client.session_transaction() as sess:
        assert AUTH_AT not in sess and "_user_id" not in sess


def test_session_cookie_flags(app, client, users):
    from tests.support.web import AuthActions

    resp = AuthActions(client).login("emp", "emppass12")
    cookie = next(v for v in resp.headers.getlist("Set-Cookie") if v.startswith("ponte_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie                     # plain HTTP here; Secure once public_url is https


def test_secure_cookie_over_tls(tmp_path, redis_server, prefix):
    from gateway import create_app

    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "public_url": "https://ponte.example.com"})
    with app.app_context():
        ops.add_user("emp", "emppass12")
    client = app.test_client()
    page = client.get("/login", base_url="https://ponte.example.com").get_data(as_text=True)
    from tests.support.web import csrf_from
    resp = client.post("/login", base_url="https://ponte.example.com",
                       data={"csrf_token": csrf_from(page), "name": "emp", "password": "emppass12"})
    cookie = next(v for v in resp.headers.getlist("Set-Cookie") if v.startswith("ponte_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_status_when_the_pc_refused_says_stop(app, client, emp, world):
    _end(app, world, "The PC could not start the session: the VNC server rejected the password",
         ended_by=sessions.ENDED_BY_PC)
    body = client.get(f"/api/v1/sessions/{world.live['emp']}").get_json()
    assert body["reconnect"] is False and "rejected the password" in body["end_reason"]


def _mark_ending(app, world, reason, ended_by=""):
    """What the node does before closing the viewer's socket (``ending.mark``), row still open."""
    from gateway import ending

    with app.app_context():
        if ended_by == "boss":  # an admin's end names them on the row first (``ops.end_session``)
            from gateway.extensions import db
            from gateway.models import SessionRecord

            db.session.get(SessionRecord, world.live["emp"]).ended_by = ended_by
            db.session.commit()
            ended_by = ""
        ending.mark(sessions.live(), world.live["emp"], reason, ended_by)


def test_session_status_between_the_viewers_close_and_the_row_says_how_it_ended(app, client, emp, world):
    # An admin's end: the viewer asks before the history row is written, and must not reconnect.
    _mark_ending(app, world, "Going home", ended_by="boss")
    body = client.get(f"/api/v1/sessions/{world.live['emp']}").get_json()
    assert body == {"session": world.live["emp"], "state": "ended", "machine": "desk-1",
                    "end_reason": "Going home", "end_reason_text": "Going home", "ended_by": "boss", "reconnect": False}
    # the row, once written, says the same
    _end(app, world, "Going home")
    assert client.get(f"/api/v1/sessions/{world.live['emp']}").get_json() == body


def test_session_status_of_an_ending_dropped_link_still_says_reconnect(app, client, emp, world):
    _mark_ending(app, world, "connection lost (agent→viewer: OSError)")
    body = client.get(f"/api/v1/sessions/{world.live['emp']}").get_json()
    assert body["state"] == "ended" and body["reconnect"] is True and body["ended_by"] is None
    _mark_ending(app, world, "The PC could not start the session: wrong password", ended_by=sessions.ENDED_BY_PC)
    body = client.get(f"/api/v1/sessions/{world.live['emp']}").get_json()
    assert body["reconnect"] is False and body["ended_by"] == sessions.ENDED_BY_PC


def test_an_ending_mark_never_recreates_a_gone_record_nor_waits_on_a_hung_store(app, world):
    import time

    from gateway import ending

    class Hung:
        def session_update(self, *_args):
            import gevent

            gevent.sleep(30)

    t0 = time.monotonic()
    ending.mark(Hung(), world.live["emp"], "Going home")
    assert time.monotonic() - t0 < ending.MARK_WAIT + 0.5
    with app.app_context():
        sessions.live().session_ended("0" * 32, world.machines["desk-1"])
        ending.mark(sessions.live(), "0" * 32, "Going home")
        assert sessions.live().session("0" * 32) is None
