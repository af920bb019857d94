"""A session's notices (its warnings, who else watches) and admins shadowing a live session."""

from __future__ import annotations

import time

from sqlalchemy import select

from gateway.auth import AUTH_AT
from gateway.extensions import db
from gateway.models import AuditEvent
from gateway.terms import SessionTerms
from tests.support.records import add_live_session


def test_the_notices_carry_the_warnings_the_relaying_node_wrote(app, world, client, login):
    live = app.extensions["ponte.live"]
    session = world.live["emp"]
    soon = time.time() + 42
    assert live.session_notices(session, {"idle_ends_at": round(soon), "ends_at": ""})
    login("emp")
    body = client.get(f"/api/v1/sessions/{session}/notices").get_json()
    assert body["idle_ends_at"] == round(soon) and body["ends_at"] is None
    assert abs(body["now"] - time.time()) < 5 and body["watchers"] == []
    live.session_notices(session, {"idle_ends_at": ""})  # input came: the warning is off
    assert client.get(f"/api/v1/sessions/{session}/notices").get_json()["idle_ends_at"] is None


def test_notices_of_a_session_gone_from_redis_are_not_found(app, world, client, login):
    live = app.extensions["ponte.live"]
    live.redis.delete(live.key("session", world.live["emp"]))
    assert live.session_notices(world.live["emp"], {"ends_at": 1}) is False  # never a partial record
    login("emp")
    reply = client.get(f"/api/v1/sessions/{world.live['emp']}/notices")
    assert reply.status_code == 404 and reply.get_json()["error"]["code"] == "not_found"


def test_an_admin_shadows_a_live_session_without_a_grant_and_the_person_is_told(app, world, client, login):
    actions = login("boss")  # boss has no grant on desk-1
    reply = client.post(f"/api/v1/sessions/{world.live['emp']}/shadow", json={}, headers=actions.headers())
    assert reply.status_code == 201, reply.get_json()
    issued = reply.get_json()
    assert issued["view_only"] is True and issued["machine"]["name"] == "desk-1" and issued["ticket"]
    store = app.extensions["ponte.live"]
    ticket = store.consume_ticket(issued["ticket"])
    assert ticket.terms == SessionTerms(view_only=True, kind="shadow")
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "session_shadow")).one()
        assert event.actor == "boss" and event.target == "desk-1" and world.live["emp"] in event.detail
        assert "watch" in event.detail
        # The shadow running: its live record on the same PC, as the relaying node writes it.
        from gateway import ops
        add_live_session(app, issued["session"], ops.get_user("boss"), ops.get_machine("desk-1"))
    store.redis.hset(store.key("session", issued["session"]), mapping={"kind": "shadow", "view_only": 1})
    client.post("/logout", data={"csrf_token": actions.csrf})
    login("emp")
    watchers = client.get(f"/api/v1/sessions/{world.live['emp']}/notices").get_json()["watchers"]
    assert watchers == [{"user": "boss", "kind": "shadow", "control": False}]


def test_taking_control_is_asked_for_and_audited_as_such(app, world, client, login):
    actions = login("boss")
    reply = client.post(f"/api/v1/sessions/{world.live['other']}/shadow", json={"control": True},
                        headers=actions.headers())
    assert reply.status_code == 201 and reply.get_json()["view_only"] is False
    assert app.extensions["ponte.live"].consume_ticket(reply.get_json()["ticket"]).terms.view_only is False
    with app.app_context():
        assert "control" in db.session.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "session_shadow")).one()


def test_shadowing_is_for_admins_with_a_recent_login_and_live_sessions(app, world, client, login):
    actions = login("emp")
    reply = client.post(f"/api/v1/sessions/{world.live['emp']}/shadow", json={}, headers=actions.headers())
    assert reply.status_code == 403  # not even one's own session
    client.post("/logout", data={"csrf_token": actions.csrf})
    actions = login("boss")
    assert client.post(f"/api/v1/sessions/{world.ended['emp']}/shadow", json={},
                       headers=actions.headers()).status_code == 404
    assert client.post(f"/api/v1/sessions/{world.live['emp']}/shadow", json={"control": "yes"},
                       headers=actions.headers()).status_code == 400
    with client.session_transaction() as s:  # the password was entered over half an hour ago
        s[AUTH_AT] = time.time() - 3600
    old = client.post(f"/api/v1/sessions/{world.live['emp']}/shadow", json={}, headers=actions.headers())
    assert old.status_code == 403 and old.get_json()["error"]["code"] == "reauth_required", old.get_json()


def test_the_watch_page_opens_the_shadow_from_the_viewer(app, world, client, login):
    login("boss")
    page = client.get(f"/admin/sessions/{world.live['emp']}/watch?control=1").get_data(as_text=True)
    assert f'data-shadow-url="/api/v1/sessions/{world.live["emp"]}/shadow"' in page
    assert 'data-shadow-control="1"' in page and 'id="notices"' in page
    sessions_page = client.get("/admin/sessions").get_data(as_text=True)
    assert f"/admin/sessions/{world.live['emp']}/watch" in sessions_page
    gone = client.get(f"/admin/sessions/{world.ended['emp']}/watch")
    assert gone.status_code == 302 and gone.headers["Location"].endswith("/admin/sessions")


def test_a_shadow_is_recorded_when_the_pc_records_or_the_session_it_joins_is_recorded(app, world, client, login):
    from gateway import ops
    from gateway.ops import policy as policy_ops

    actions = login("boss")
    store = app.extensions["ponte.live"]

    def shadow_terms(session):
        reply = client.post(f"/api/v1/sessions/{session}/shadow", json={}, headers=actions.headers())
        assert reply.status_code == 201, reply.get_json()
        issued = reply.get_json()
        return store.consume_ticket(issued["ticket"]).terms.record, issued["recording"]

    assert shadow_terms(world.live["emp"]) == (False, None)
    # The person's session is recorded (their group records, say): the admin's view of it is too.
    store.redis.hset(store.key("session", world.live["emp"]), "recording", "recording")
    record, told = shadow_terms(world.live["emp"])
    assert record is True and told["notice"].startswith("This session is recorded")
    # Stopped early (a full disk) still means the policy recorded it: so is the shadow.
    store.redis.hset(store.key("session", world.live["emp"]), "recording", "Recording stopped: No space left")
    assert shadow_terms(world.live["emp"])[0] is True
    store.redis.hset(store.key("session", world.live["emp"]), "recording", "")
    with app.app_context():
        policy_ops.set_rules(ops.get_machine("desk-1"), {"record": True}, actor="boss")  # the PC's own policy
    assert shadow_terms(world.live["emp"])[0] is True
