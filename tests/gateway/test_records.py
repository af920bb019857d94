"""No record lost (issue 8 item 4): end records, the node journal, the reaper of dead nodes.

Real SQLite and a real Redis (the app fixture); SQL fails for real (its
table is gone). The reaper runs one round at a time on a clock the test
moves, so the grace after Redis came back is checked without waiting.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from gateway import sessions
from gateway.extensions import db
from gateway.journal import EndRecord, Journal
from gateway.models import SessionRecord
from gateway.reaper import Reaper

from tests.support.records import add_live_session, session_ref


def _row(app, session):
    with app.app_context():
        return db.session.get(SessionRecord, session)


def _record(session="s-1", **kw) -> EndRecord:
    return EndRecord(**{"session": session, "ended_at": time.time(), "to_viewer": 4321, "from_viewer": 12,
                        "reason": "viewer closed", "machine_id": 1, "machine_name": "desk-1", "user_id": 2,
                        "user_name": "emp", "client_ip": "198.51.100.7", "node": "n1",
                        "started_at": time.time() - 60, **kw})


def test_journal_is_private_durable_and_compacts(tmp_path):
    journal = Journal(tmp_path)
    assert journal.entries() == []
    journal.append(_record("a"))
    journal.append(_record("b"))
    assert journal.path.stat().st_mode & 0o777 == 0o600
    with open(journal.path, "a") as fh:  # a line torn by a crash is skipped, not fatal
        fh.write('{"session": "c", "ended_')
    again = Journal(tmp_path)  # the next start of the node
    assert [r.session for r in again.entries()] == ["a", "b"]
    again.drop({"a"})
    assert [r.session for r in Journal(tmp_path).entries()] == ["b"]
    assert journal.path.stat().st_mode & 0o777 == 0o600
    again.drop({"b"})
    assert not journal.path.exists()


def test_record_end_closes_once_and_creates_a_missing_row(app, users):
    record = _record("never-started", machine_id=users["machine_id"])
    with app.app_context():
        assert sessions.record_end(record) is True  # its start never reached SQL: created closed
        assert sessions.record_end(_record("never-started", reason="second try", to_viewer=1)) is False
    row = _row(app, "never-started")
    assert (row.end_reason, row.bytes_to_viewer, row.user_name, row.node) == ("viewer closed", 4321, "emp", "n1")
    assert row.ended_at is not None and row.started_at < row.ended_at


def test_end_while_sql_fails_is_journaled_and_written_later(app, users):
    with app.app_context():
        from gateway import ops

        emp, machine = ops.get_user("emp"), ops.get_machine("desk-1")
        fields = sessions.started("s-down", emp, machine, "198.51.100.7", "n1")
        db.session.execute(text("ALTER TABLE session_history RENAME TO session_history_away"))
        db.session.commit()
        assert sessions.finish(sessions.end_record("s-down", fields, to_viewer=999, from_viewer=9,
                                                   reason="viewer closed")) is False
        hub = app.extensions["ponte.hub"]
        assert [r.session for r in hub.journal.entries()] == ["s-down"]
        assert hub.journal.replay(hub.records.write_end) == 1  # SQL still down: kept
        db.session.execute(text("ALTER TABLE session_history_away RENAME TO session_history"))
        db.session.commit()
        assert hub.journal.replay(hub.records.write_end) == 0
        assert hub.journal.entries() == []
    row = _row(app, "s-down")
    assert (row.end_reason, row.bytes_to_viewer, row.bytes_from_viewer) == ("viewer closed", 999, 9)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def reaper(app):
    clock = Clock()
    r = Reaper(app, app.extensions["ponte.hub"], clock=clock)
    r.clock_ = clock
    return r


def _open_on(app, session, node, user="emp", machine="desk-1", started_ago=60):
    from gateway import ops

    with app.app_context():
        add_live_session(app, session, ops.get_user(user), ops.get_machine(machine), node=node)
        row = db.session.get(SessionRecord, session)
        row.started_at = sessions._utc(time.time() - started_ago)
        db.session.commit()


def test_dead_nodes_sessions_are_closed_after_the_grace_with_redis_bytes(app, users, reaper):
    live = app.extensions["ponte.live"]
    _open_on(app, "s-dead", "node-dead")
    _open_on(app, "s-alive", "node-alive")
    live.node_alive("node-alive", "127.0.0.1:1", ttl=60)
    reaper.redis_back()
    with app.app_context():
        # Redis just came back: every node: record may be missing only because of that.
        assert reaper.sweep() == 0
        assert _row(app, "s-dead").ended_at is None
        reaper.clock_.now += reaper.grace
        assert reaper.sweep() == 1
    row = _row(app, "s-dead")
    assert row.ended_at is not None and row.end_reason == "gateway node stopped"
    assert (row.bytes_to_viewer, row.bytes_from_viewer) == (123456, 789)  # what Redis had
    assert live.session("s-dead") is None and "s-dead" not in live.live_ids()
    assert _row(app, "s-alive").ended_at is None  # its node is alive


def test_redis_loss_restarts_the_grace(app, users, reaper):
    _open_on(app, "s-x", "node-dead")
    reaper.redis_back()
    reaper.clock_.now += reaper.grace
    reaper.redis_lost()  # e.g. Redis restarted: the listener saw the connection drop
    reaper.redis_back()
    with app.app_context():
        assert reaper.sweep() == 0
        reaper.clock_.now += reaper.grace
        assert reaper.sweep() == 1


def test_only_one_survivor_reaps_a_node(app, users, reaper):
    live = app.extensions["ponte.live"]
    _open_on(app, "s-locked", "node-dead")
    assert live.try_lock("reap:node-dead", "node-other", 30)  # another survivor is on it
    reaper.redis_back()
    reaper.clock_.now += reaper.grace
    with app.app_context():
        assert reaper.sweep() == 0
    assert _row(app, "s-locked").ended_at is None


def test_own_leftovers_are_closed_at_start_without_grace(app, users, reaper):
    me = app.config["PONTE"].node_id
    _open_on(app, "s-before", me, started_ago=120)  # a crash of this node id, before this start
    with app.app_context():
        live_fields = sessions.started("s-now", *_emp_desk(), "198.51.100.7", me)
    assert live_fields["node"] == me
    with app.app_context():
        assert reaper.sweep() == 1  # no redis_back() yet, no grace: own leftovers only
    assert _row(app, "s-before").end_reason == "gateway node stopped"
    assert _row(app, "s-now").ended_at is None


def _emp_desk():
    from gateway import ops

    return ops.get_user("emp"), ops.get_machine("desk-1")


def test_admin_ends_an_open_row_with_nothing_live(app, users, client, auth):
    """A row open in SQL whose node died and whose Redis record is gone: shown as stale, End closes it."""
    ORPHAN = session_ref("orphan")
    from gateway.models import utcnow

    with app.app_context():
        emp, desk = _emp_desk()
        db.session.add(SessionRecord(id=ORPHAN, user_id=emp.id, user_name=emp.name, machine_id=desk.id,
                                     machine_name=desk.name, client_ip="198.51.100.7", node="node-gone",
                                     started_at=utcnow()))
        db.session.commit()
    auth.login("boss", "bosspass1")
    live = client.get("/api/v1/sessions").get_json()["sessions"]
    assert [(s["id"], s["state"], s["node"]) for s in live] == [(ORPHAN, "stale", "node-gone")]
    history = client.get("/api/v1/history").get_json()["history"]
    assert [(h["id"], h["state"]) for h in history] == [(ORPHAN, "stale")]
    assert "its gateway node stopped" in client.get("/admin/sessions").get_data(as_text=True)
    resp = client.delete(f"/api/v1/sessions/{ORPHAN}", json={"reason": "Cleaning up"}, headers=auth.headers())
    assert resp.status_code == 202, resp.get_json()
    row = _row(app, ORPHAN)
    assert (row.end_reason, row.ended_by) == ("Cleaning up", "boss")
    assert client.get("/api/v1/sessions").get_json()["sessions"] == []
