"""Recordings through the web: the switch and the notice at session open, the player's API,
deleting (audited) and retention."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway import create_app, ops, recording
from gateway.extensions import db
from gateway.models import AuditEvent, SessionRecord, utcnow
from gateway.recording import format as fmt
from tests.support.web import PASSWORDS, AuthActions


@pytest.fixture
def rec_app(tmp_path, redis_server, prefix):
    """A gateway with recording on (the conftest's ``app`` has it off, the default)."""
    app = create_app({"instance_path": str(tmp_path / "instance"), "redis_url": redis_server,
                      "redis_prefix": prefix, "login_limit": "1000 per minute", "recording": True,
                      "recording_notice": "Sessione registrata.", "recording_retention_days": 30})
    app.config["TESTING"] = True
    with app.app_context():
        ops.add_user("boss", PASSWORDS["boss"], admin=True)
        emp = ops.add_user("emp", PASSWORDS["emp"])
        machine, _ = ops.add_machine("desk-1")
        ops.grant(emp, machine)
    return app


def logged_in(app, name):
    client = app.test_client()
    actions = AuthActions(client)
    assert actions.login(name, PASSWORDS[name]).status_code == 302
    return client, actions.headers()


def recorded_session(app, records, *, ended_days_ago=0.0, ending=True):
    """A history row and a real recording file of ``records`` ((ms, bytes) pairs)."""
    session = uuid.uuid4().hex
    with app.app_context():
        builder = fmt.ChunkBuilder()
        parts = [fmt.header({"session": session, "started": 1.0})]
        for ms, data in records:
            if builder.due(ms):
                parts.append(builder.seal())
            builder.add(ms, data)
        parts.append(builder.seal())
        if ending:
            parts.append(fmt.end(records[-1][0] + 5))
        sink = recording.storage().create(session)
        sink.write(b"".join(parts))
        sink.close()
        ended = utcnow() - timedelta(days=ended_days_ago)
        db.session.add(SessionRecord(id=session, user_id=2, user_name="emp", machine_id=1, machine_name="desk-1",
                                     started_at=ended - timedelta(minutes=5), ended_at=ended,
                                     recording=recording.RECORDED))
        db.session.commit()
    return session


def test_the_switch_puts_record_in_the_terms_and_the_notice_in_the_answer(rec_app):
    app = rec_app
    client, headers = logged_in(app, "emp")
    resp = client.post("/api/v1/machines/desk-1/sessions", json={}, headers=headers)
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["recording"] == {"notice": "Sessione registrata."}
    ticket = app.extensions["ponte.live"].consume_ticket(body["ticket"])
    assert ticket.terms.record is True


def test_recording_off_by_default(client, users, auth):
    assert auth.login("emp", PASSWORDS["emp"]).status_code == 302
    body = client.post("/api/v1/machines/desk-1/sessions", json={}, headers=auth.headers()).get_json()
    assert body["recording"] is None


def test_the_player_reads_the_summary_and_the_records(rec_app):
    app = rec_app
    records = [(0, b"RFB 003.008\n"), (40, b"\x01\x01"), (9000, b"later")]
    session = recorded_session(app, records)
    client, _ = logged_in(app, "boss")
    summary = client.get(f"/api/v1/sessions/{session}/recording").get_json()
    assert summary["duration_ms"] == 9005 and summary["complete"] and summary["status"] == "recorded"
    assert summary["chunks"] == [[0, 40], [9000, 9000]] and summary["idle"] == [[40, 9000]]
    data = client.get(f"/api/v1/sessions/{session}/recording/data").get_data()
    assert [(r.ms, r.data) for r in fmt.raw_records(data)] == records
    page = client.get(f"/admin/recordings/{session}")
    assert page.status_code == 200 and b"player.js" in page.data
    assert f"/admin/recordings/{session}".encode() in client.get("/admin/history").data


def test_employees_may_not_play_recordings_even_their_own(rec_app):
    app = rec_app
    session = recorded_session(app, [(0, b"x")])
    client, headers = logged_in(app, "emp")
    assert client.get(f"/api/v1/sessions/{session}/recording").status_code == 403
    assert client.get(f"/api/v1/sessions/{session}/recording/data").status_code == 403
    assert client.delete(f"/api/v1/sessions/{session}/recording", headers=headers).status_code == 403


def test_deleting_is_audited_and_the_history_says_so(rec_app):
    app = rec_app
    session = recorded_session(app, [(0, b"x")])
    client, headers = logged_in(app, "boss")
    assert client.delete(f"/api/v1/sessions/{session}/recording", headers=headers).status_code == 200
    with app.app_context():
        assert not recording.storage().exists(session)
        assert db.session.get(SessionRecord, session).recording == recording.DELETED
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "recording_delete"))
        assert event.actor == "boss" and session in event.detail
    assert client.get(f"/api/v1/sessions/{session}/recording").status_code == 404
    assert b"(recording deleted)" in client.get("/admin/history").data


def test_retention_deletes_only_what_ended_long_enough_ago(rec_app):
    app = rec_app
    old = recorded_session(app, [(0, b"x")], ended_days_ago=31)
    recent = recorded_session(app, [(0, b"y")], ended_days_ago=29)
    with app.app_context():
        assert recording_purge(app) == [old]
        store = recording.storage()
        assert not store.exists(old) and store.exists(recent)
        assert db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "recording_delete")) == "retention"


def recording_purge(app):
    from gateway.ops import recordings

    return recordings.purge()


def test_a_recording_cut_short_still_plays(rec_app):
    app = rec_app
    session = recorded_session(app, [(0, b"a"), (1500, b"b")], ending=False)
    client, _ = logged_in(app, "boss")
    summary = client.get(f"/api/v1/sessions/{session}/recording").get_json()
    assert summary["complete"] is False and summary["duration_ms"] == 1500
