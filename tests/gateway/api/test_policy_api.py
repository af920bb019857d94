"""Policy through the API: the admin settings, and what happens when a session is opened
(hours, exclusive / shared / view-only join, limits in the terms, take-over), across two
gateway apps sharing one Redis and one database."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from gateway import create_app, ops, sessions, takeover
from gateway.extensions import db
from gateway.models import AuditEvent
from gateway.ops import policy as policy_ops
from tests.support.web import PASSWORDS, AuthActions


def _app(tmp_path, redis_server, prefix, node):
    app = create_app({"instance_path": str(tmp_path / "instance"), "redis_url": redis_server,
                      "redis_prefix": prefix, "login_limit": "1000 per minute", "node_id": node,
                      "timezone": "Europe/Rome"})
    app.config["TESTING"] = True
    return app


@pytest.fixture
def nodes(tmp_path, redis_server, prefix):
    """Two gateway apps (node-a, node-b) on one database and one Redis, as two nodes are;
    desk-1 granted to emp and other (through group ``floor``), and to boss (an admin)."""
    a = _app(tmp_path, redis_server, prefix, "node-a")
    b = _app(tmp_path, redis_server, prefix, "node-b")
    with a.app_context():
        ops.add_user("boss", PASSWORDS["boss"], admin=True)
        emp, other = ops.add_user("emp", PASSWORDS["emp"]), ops.add_user("other", PASSWORDS["other"])
        desk, _ = ops.add_machine("desk-1")
        floor = ops.add_group("floor")
        ops.add_member(floor, other)
        ops.grant(floor, desk)
        ops.grant(emp, desk)
        ops.grant(ops.get_user("boss"), desk)
    return a, b


class Person:
    """Someone logged in on one node, calling the JSON API as the page does."""

    def __init__(self, app, name):
        self.app, self.name = app, name
        self.client = app.test_client()
        self.auth = AuthActions(self.client)
        assert self.auth.login(name, PASSWORDS[name]).status_code == 302

    def __call__(self, method, path, json=None, expect=None):
        resp = self.client.open("/api/v1" + path, method=method, json=json if method != "GET" else None,
                                headers=self.auth.headers())
        if expect is not None:
            assert resp.status_code == expect, (method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json()

    def open(self, expect=201, **body):
        return self("POST", "/machines/desk-1/sessions", body, expect=expect)

    def on_the_pc(self, issued) -> str:
        """The relay's part once the viewer connected: the session is live (on this person's node)."""
        with self.app.app_context():
            ticket = self.app.extensions["ponte.live"].consume_ticket(issued["ticket"])
            sessions.started(issued["session"], ops.get_user(self.name), ops.get_machine("desk-1"), "192.0.2.1",
                             self.app.config["PONTE"].node_id, ticket.terms)
        return issued["session"]


def terms_of(app, issued):
    with app.app_context():
        return app.extensions["ponte.live"].consume_ticket(issued["ticket"]).terms


def set_policy(app, target=None, **changes):
    with app.app_context():
        ref = None
        if target is not None:
            kind, _, name = target.partition(":")
            ref = ops.get_group(name) if kind == "group" else ops.get_machine(name)
        policy_ops.set_rules(ref, changes, actor="test")


# -- the admin API -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/policy", "/groups/floor/policy", "/machines/desk-1/policy"])
def test_admin_sets_and_unsets_each_level(nodes, path):
    a, _ = nodes
    boss = Person(a, "boss")
    scope = {"/policy": "global", "/groups/floor/policy": "group", "/machines/desk-1/policy": "machine"}[path]
    assert boss("GET", path, expect=200)["policy"] == {
        "scope": scope, "concurrency": None, "idle_timeout": None, "max_duration": None, "hours": None,
        "file_transfer": None, "record": None, "retention_days": None}
    changed = boss("PUT", path, {"concurrency": "exclusive", "idle_timeout": 15, "hours": "mon-fri 8:00-19:00"},
                   expect=200)["policy"]
    assert (changed["concurrency"], changed["idle_timeout"], changed["max_duration"], changed["hours"]) == (
        "exclusive", 15, None, "Mon-Fri 08:00-19:00")
    # a later PUT changes only what it names; null unsets
    again = boss("PUT", path, {"idle_timeout": None, "max_duration": 0}, expect=200)["policy"]
    assert (again["concurrency"], again["idle_timeout"], again["max_duration"]) == ("exclusive", None, 0)
    assert boss("GET", path, expect=200)["policy"] == again
    with a.app_context():
        details = [e.detail for e in db.session.query(AuditEvent).filter_by(action="policy_set")]
    assert details == ["concurrency=exclusive, idle_timeout=15, hours=Mon-Fri 08:00-19:00",
                       "concurrency=exclusive, max_duration=0, hours=Mon-Fri 08:00-19:00"]


@pytest.mark.parametrize("body", [
    {"concurrency": "solo"}, {"idle_timeout": -5}, {"max_duration": "30"}, {"hours": "weekdays 9-5"},
    {"hours": 8}, {"recording": True}, {"file_transfer": "sideways"}, {"file_transfer": True},
    {"record": "yes"}, {"record": 1}, {"retention_days": -1}, {"retention_days": 10**6}, {"retention_days": "30"},
])
def test_impossible_settings_are_refused(nodes, body):
    a, _ = nodes
    boss = Person(a, "boss")
    error = boss("PUT", "/policy", body, expect=400)["error"]
    assert error["code"] == "invalid" and error["message"]
    assert boss("GET", "/policy", expect=200)["policy"]["concurrency"] is None


def test_employees_may_not_read_or_change_policy(nodes):
    a, _ = nodes
    emp = Person(a, "emp")
    emp("GET", "/policy", expect=403)
    emp("PUT", "/machines/desk-1/policy", {"concurrency": "shared"}, expect=403)


# -- opening a session ---------------------------------------------------------------------------

@pytest.mark.parametrize("concurrency, status, view_only", [
    ("exclusive", 409, None),
    ("shared", 201, False),
    ("view_only_join", 201, True),
])
def test_the_second_person_across_nodes(nodes, concurrency, status, view_only):
    """emp is on desk-1 through node A; other opens it through node B."""
    a, b = nodes
    set_policy(a, "machine:desk-1", concurrency=concurrency)
    emp, other = Person(a, "emp"), Person(b, "other")
    first = emp.open()
    assert terms_of(a, first).view_only is False   # the first person always has the PC
    emp.on_the_pc(emp.open())
    body = other.open(expect=status)
    if status == 409:
        assert body["error"]["code"] == "in_use"
        assert body["error"]["message"].startswith("In use by emp since ")
    else:
        assert terms_of(b, body).view_only is view_only
        with b.app_context():
            assert b.extensions["ponte.live"].session(body["session"])["view_only"] == str(int(view_only))


@pytest.mark.parametrize("concurrency", ["exclusive", "shared", "view_only_join"])
def test_nobody_else_on_the_pc_opens_normally(nodes, concurrency):
    a, b = nodes
    set_policy(a, "machine:desk-1", concurrency=concurrency)
    emp = Person(a, "emp")
    emp.on_the_pc(emp.open())
    # the same person again (a second tab) is not "someone else"
    assert terms_of(a, emp.open()).view_only is False


def test_exclusive_holds_the_pc_between_ticket_and_start(nodes):
    """Two people pressing Open at the same moment on two nodes: one gets it."""
    a, b = nodes
    set_policy(a, None, concurrency="exclusive")
    emp, other = Person(a, "emp"), Person(b, "other")
    emp.open()
    assert other.open(expect=409)["error"]["code"] == "in_use"


@pytest.mark.parametrize("levels, idle, maximum", [
    ({}, 0, 0),
    ({None: {"idle_timeout": 10, "max_duration": 120}}, 600, 7200),
    ({None: {"idle_timeout": 10}, "group:floor": {"idle_timeout": 3}}, 180, 0),
    ({None: {"idle_timeout": 10}, "group:floor": {"idle_timeout": 3}, "machine:desk-1": {"idle_timeout": 0}}, 0, 0),
])
def test_limits_reach_the_terms(nodes, levels, idle, maximum):
    a, b = nodes
    for target, changes in levels.items():
        set_policy(a, target, **changes)
    terms = terms_of(b, Person(b, "other").open())
    assert (terms.idle_timeout, terms.max_duration) == (idle, maximum)


def test_outside_hours_with_a_frozen_clock(nodes, monkeypatch):
    a, _ = nodes
    set_policy(a, "group:floor", hours="Mon-Fri 08:00-19:00")
    other, emp = Person(a, "other"), Person(a, "emp")
    # Saturday 5 December 2026, 10:00 in Rome
    monkeypatch.setattr(policy_ops, "now", lambda: datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc))
    error = other.open(expect=403)["error"]
    assert error == {"code": "outside_hours", "message": "This PC may be used only Mon-Fri 08:00-19:00 "
                                                         "(Europe/Rome time); it is outside those hours now."}
    assert emp.open(expect=201)   # emp's direct grant is not ruled by floor's hours
    # Friday 4 December, 18:59 in Rome
    monkeypatch.setattr(policy_ops, "now", lambda: datetime(2026, 12, 4, 17, 59, tzinfo=timezone.utc))
    other.open(expect=201)


# -- taking over ---------------------------------------------------------------------------------

@pytest.fixture
def occupied(nodes, commands_b):
    """desk-1 exclusive, other on it through node B; emp on node A wants it."""
    a, b = nodes
    set_policy(a, "machine:desk-1", concurrency="exclusive")
    other = Person(b, "other")
    session = other.on_the_pc(other.open())
    return Person(a, "emp"), other, session


@pytest.fixture
def commands_b(nodes):
    from tests.support.node_commands import Commands
    c = Commands(nodes[1])
    yield c
    c.close()


def test_take_over_accepted(occupied, commands_b):
    emp, other, session = occupied
    emp.open(expect=409)
    asked = emp("POST", "/machines/desk-1/takeover", expect=202)
    assert asked["state"] == "pending" and asked["expires_in"] == takeover.ANSWER_TIME
    assert emp("GET", "/machines/desk-1/takeover", expect=200)["state"] == "pending"
    prompt = other("GET", f"/sessions/{session}/takeover", expect=200)["takeover"]
    assert prompt["by"] == "emp" and prompt["request"] == asked["request"] and 0 < prompt["expires_in"] <= 30
    assert other("POST", f"/sessions/{session}/takeover", {"request": asked["request"], "answer": "accept"},
                 expect=200)["state"] == "accepted"
    cmd = commands_b.wait(lambda c: c.get("cmd") == "end" and c.get("session") == session)
    assert cmd["reason"] == "Taken over by emp"
    assert emp("GET", "/machines/desk-1/takeover", expect=200)["state"] == "accepted"
    # other's session is still in Redis until node B ends it: the accepted request opens the PC anyway, once
    issued = emp.open(takeover=asked["request"])
    assert terms_of(emp.app, issued).view_only is False
    assert emp.open(expect=409, takeover=asked["request"])["error"]["code"] == "in_use"
    # answering twice is refused
    assert other("POST", f"/sessions/{session}/takeover", {"request": asked["request"], "answer": "refuse"},
                 expect=409)["error"]["code"] == "answered"


def test_take_over_refused(occupied, commands_b):
    emp, other, session = occupied
    asked = emp("POST", "/machines/desk-1/takeover", expect=202)
    other("POST", f"/sessions/{session}/takeover", {"request": asked["request"], "answer": "refuse"}, expect=200)
    assert emp("GET", "/machines/desk-1/takeover", expect=200)["state"] == "refused"
    assert other("GET", f"/sessions/{session}/takeover", expect=200)["takeover"] is None
    assert emp.open(expect=409, takeover=asked["request"])["error"]["code"] == "in_use"
    assert not [c for c in commands_b.drain() if c.get("cmd") == "end"]


def test_no_answer_is_a_refusal(occupied, monkeypatch):
    emp, other, session = occupied
    monkeypatch.setattr(takeover, "ANSWER_TIME", 1)
    asked = emp("POST", "/machines/desk-1/takeover", expect=202)
    time.sleep(1.3)
    assert emp("GET", "/machines/desk-1/takeover", expect=200)["state"] == "expired"
    assert other("GET", f"/sessions/{session}/takeover", expect=200)["takeover"] is None
    assert other("POST", f"/sessions/{session}/takeover", {"request": asked["request"], "answer": "accept"},
                 expect=409)["error"]["code"] == "answered"
    assert emp.open(expect=409, takeover=asked["request"])["error"]["code"] == "in_use"


def test_only_one_asker_at_a_time(occupied, nodes):
    emp, other, session = occupied
    emp("POST", "/machines/desk-1/takeover", expect=202)
    assert Person(nodes[0], "boss")("GET", f"/sessions/{session}/takeover", expect=200)["takeover"]["by"] == "emp"
    # asking again while waiting is the same request
    assert emp("POST", "/machines/desk-1/takeover", expect=202)["request"] == \
        other("GET", f"/sessions/{session}/takeover")["takeover"]["request"]


def test_take_over_needs_someone_on_an_exclusive_pc(nodes):
    a, b = nodes
    emp, other = Person(a, "emp"), Person(b, "other")
    assert emp("POST", "/machines/desk-1/takeover", expect=409)["error"]["code"] == "not_in_use"
    other.on_the_pc(other.open())
    assert emp("POST", "/machines/desk-1/takeover", expect=409)["error"]["code"] == "not_exclusive"


def test_admin_takes_over_outright(occupied, commands_b, nodes):
    emp, other, session = occupied
    boss = Person(nodes[0], "boss")
    asked = boss("POST", "/machines/desk-1/takeover", expect=201)
    assert asked["state"] == "accepted"
    cmd = commands_b.wait(lambda c: c.get("cmd") == "end" and c.get("session") == session)
    assert cmd["reason"] == "Taken over by boss"
    boss.open(takeover=asked["request"])
    with nodes[0].app_context():
        audit = db.session.query(AuditEvent).filter_by(action="session_takeover").one()
    assert (audit.actor, audit.target) == ("boss", "desk-1") and session in audit.detail


# -- the portal tile -----------------------------------------------------------------------------

def _tile(person):
    return {m["name"]: m for m in person("GET", "/me/machines", expect=200)["machines"]}["desk-1"]


def test_tile_names_who_is_on_and_the_hours(nodes, monkeypatch):
    a, b = nodes
    with a.app_context():
        from gateway.models import utcnow
        machine = ops.get_machine("desk-1")
        machine.enrolled_at = utcnow()
        db.session.commit()
        a.extensions["ponte.live"].agent_online(machine.id, "node-a", {"vnc_ok": True}, ttl=60)
    emp, other = Person(a, "emp"), Person(b, "other")
    assert _tile(other)["state"] == "online"
    emp.on_the_pc(emp.open())
    tile = _tile(other)
    assert tile["state"] == "in_use" and tile["message"].startswith("In use by emp since ")
    assert _tile(emp)["message"] == "Online, in use"   # one's own session is not "someone else"
    set_policy(a, "group:floor", hours="Sat-Sun 09:00-12:00")
    monkeypatch.setattr(policy_ops, "now", lambda: datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    tile = _tile(other)
    assert (tile["state"], tile["available"]) == ("outside_hours", False)
    assert tile["message"] == "Outside the allowed hours: Sat-Sun 09:00-12:00 (Europe/Rome time)"
    assert _tile(emp)["state"] == "in_use"   # emp's direct grant is not ruled by floor's hours
    html = other.client.get("/").get_data(as_text=True)
    assert 'class="tile state-outside_hours"' in html


def test_each_viewer_of_a_shared_pc_sees_who_else_is_there(nodes):
    a, b = nodes
    emp, other = Person(a, "emp"), Person(b, "other")
    mine = emp.on_the_pc(emp.open())
    assert emp("GET", f"/sessions/{mine}/takeover", expect=200) == {"takeover": None, "others": []}
    theirs = other.on_the_pc(other.open())
    assert emp("GET", f"/sessions/{mine}/takeover", expect=200)["others"] == ["other"]
    assert other("GET", f"/sessions/{theirs}/takeover", expect=200)["others"] == ["emp"]
    other("GET", f"/sessions/{mine}/takeover", expect=404)   # not theirs to read


def test_the_refusals_are_in_the_persons_language(nodes, monkeypatch):
    a, b = nodes
    set_policy(a, "machine:desk-1", concurrency="exclusive", hours="Mon-Fri 08:00-19:00")
    monkeypatch.setattr(policy_ops, "now", lambda: datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    emp, other = Person(a, "emp"), Person(b, "other")
    other.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "it"
    emp.on_the_pc(emp.open())
    error = other.open(expect=409)["error"]
    assert error["code"] == "in_use" and error["message"].startswith("In uso da emp dalle ")
    monkeypatch.setattr(policy_ops, "now", lambda: datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc))
    error = other.open(expect=403)["error"]
    assert error == {"code": "outside_hours", "message": "Questo PC si può usare solo lun-ven 08:00-19:00 "
                                                         "(ora di Europe/Rome); ora si è fuori da questi orari."}


def test_the_hold_ends_with_its_session(nodes):
    """A session that ended (or never started: its pending record expired) frees the PC at once."""
    a, b = nodes
    set_policy(a, None, concurrency="exclusive")
    emp, other = Person(a, "emp"), Person(b, "other")
    first = emp.open()
    assert other.open(expect=409)["error"]["message"].startswith("In use by emp since ")
    with a.app_context():
        a.extensions["ponte.live"].session_ended(first["session"], ops.get_machine("desk-1").id)
    other.open()
    assert emp.open(expect=409)["error"]["message"].startswith("In use by other since ")
