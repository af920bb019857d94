"""Bulk grants (issue 13): the people ticked on the users list get or lose one PC, or join a group;
the PCs ticked on the PCs list go to, or leave, one person or group; ``POST /api/v1/grants/bulk``.
Each in one request and one transaction, one audit row per grant."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from gateway import ops
from gateway.extensions import db
from gateway.models import AuditEvent, Grant, GroupGrant, Machine, User, group_members
from tests.support.web import csrf_from

IT = {"Accept-Language": "it"}


@pytest.fixture
def crowd(app, users):
    """500 more people and 500 PCs, made in bulk."""
    with app.app_context():
        db.session.add_all(User(name=f"person-{n:03d}", password_hash="!") for n in range(500))
        db.session.add_all(Machine(name=f"pc-{n:03d}") for n in range(500))
        db.session.commit()


def _count(app, stmt) -> int:
    with app.app_context():
        return db.session.scalar(stmt)


def _ids(app, model, prefix: str, n: int) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(model.id).where(model.name.like(f"{prefix}%"))
                                       .order_by(model.name).limit(n)))


def test_a_hundred_people_get_a_pc_in_one_request(app, client, crowd, login):
    login("boss")
    page = client.get("/admin/users?q=person&page=2").get_data(as_text=True)
    # Every row has its box and the page its "everyone on this page" box, tied to the bulk form.
    assert page.count('form="bulk-users" name="user_id"') == 50
    assert 'data-tick-all="user_id"' in page and 'name="back" value="/admin/users?q=person&amp;page=2"' in page
    people = _ids(app, User, "person-", 100)
    pc = _ids(app, Machine, "pc-250", 1)[0]
    resp = client.post("/admin/users/bulk", data={"csrf_token": csrf_from(page), "action": "grant",
                                                   "machine_id": str(pc), "user_id": [str(i) for i in people],
                                                   "back": "/admin/users?q=person&page=2"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/users?q=person&page=2")
    assert _count(app, select(func.count()).select_from(Grant).where(Grant.machine_id == pc)) == 100
    assert _count(app, select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "grant", AuditEvent.target.like("% → pc-250"))) == 100
    assert "100 more people may now open pc-250." in client.get(resp.headers["Location"]).get_data(as_text=True)
    # Again, with ten more ticked: only those ten are new; the page says so, in Italian too.
    resp = client.post("/admin/users/bulk", headers=IT, data={
        "csrf_token": csrf_from(page), "action": "grant", "machine_id": str(pc),
        "user_id": [str(i) for i in _ids(app, User, "person-", 110)]}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Altre 10 persone possono ora aprire pc-250." in html and "100 potevano già farlo." in html
    assert _count(app, select(func.count()).select_from(Grant).where(Grant.machine_id == pc)) == 110


def test_taking_a_pc_from_ticked_people_ends_their_sessions(app, client, world, login, commands):
    login("boss")
    page = client.get("/admin/users").get_data(as_text=True)
    resp = client.post("/admin/users/bulk", data={
        "csrf_token": csrf_from(page), "action": "ungrant", "machine_id": str(world.machines["desk-1"]),
        "user_id": [str(world.users["emp"]), str(world.users["other"])]}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "1 person may no longer open desk-1." in html and "1 had no direct grant of it." in html
    cmd = commands.wait(lambda c: c.get("cmd") == "end" and c.get("session") == world.live["emp"])
    assert cmd["reason"] == ops.ACCESS_REMOVED
    with app.app_context():
        assert ops.get_user("emp").grants == []


def test_ticked_people_join_a_group(app, client, world, login):
    login("boss")
    page = client.get("/admin/users").get_data(as_text=True)
    client.post("/admin/users/bulk", data={"csrf_token": csrf_from(page), "action": "group",
                                           "group_id": str(world.groups["sales"]),
                                           "user_id": [str(world.users[n]) for n in ("boss", "emp", "other")]})
    with app.app_context():
        assert sorted(u.name for u in ops.get_group("sales").members) == ["boss", "emp", "other"]
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "group_member_add", AuditEvent.actor == "boss")) == 2


def test_nothing_ticked_or_nothing_chosen_says_what_is_missing(app, client, world, login):
    login("boss")
    page = client.get("/admin/users").get_data(as_text=True)
    html = client.post("/admin/users/bulk", data={"csrf_token": csrf_from(page), "action": "grant",
                                                   "machine_id": str(world.machines["desk-2"])},
                       follow_redirects=True).get_data(as_text=True)
    assert "Tick at least one row first." in html
    html = client.post("/admin/users/bulk", headers=IT, data={"csrf_token": csrf_from(page), "action": "grant",
                                                               "user_id": str(world.users["emp"])},
                       follow_redirects=True).get_data(as_text=True)
    assert "Prima scelga una voce dall’elenco." in html
    assert _count(app, select(func.count()).select_from(Grant)) == 2   # emp's desk-1, boss's desk-boss


def test_the_way_back_is_only_ever_the_list(client, world, login):
    login("boss")
    page = client.get("/admin/users").get_data(as_text=True)
    for back in ("https://evil.example/admin/users", "//evil.example/admin/users", "/admin/machines", "/\\evil"):
        resp = client.post("/admin/users/bulk", data={"csrf_token": csrf_from(page), "action": "group",
                                                       "back": back})
        assert resp.headers["Location"] == "/admin/users", back


def test_bulk_needs_the_csrf_token(app, client, world, login):
    login("boss")
    resp = client.post("/admin/users/bulk", data={"action": "grant", "machine_id": str(world.machines["desk-2"]),
                                                   "user_id": str(world.users["other"])})
    assert resp.status_code == 400
    assert _count(app, select(func.count()).select_from(Grant)) == 2


def test_ticked_pcs_go_to_a_group_and_leave_a_person(app, client, crowd, world, login):
    login("boss")
    page = client.get("/admin/machines?q=pc-").get_data(as_text=True)
    assert page.count('form="bulk-machines" name="machine_id"') == 50
    assert f'value="group:{world.groups["sales"]}"' in page and f'value="user:{world.users["emp"]}"' in page
    pcs = _ids(app, Machine, "pc-", 120)
    resp = client.post("/admin/machines/bulk", data={"csrf_token": csrf_from(page), "action": "grant",
                                                      "holder": f"group:{world.groups['sales']}",
                                                      "machine_id": [str(i) for i in pcs]}, follow_redirects=True)
    assert "sales may now open 120 more PCs." in resp.get_data(as_text=True)
    assert _count(app, select(func.count()).select_from(GroupGrant)) == 121   # and desk-3 from before
    client.post("/admin/machines/bulk", data={"csrf_token": csrf_from(page), "action": "grant",
                                              "holder": f"user:{world.users['emp']}",
                                              "machine_id": [str(i) for i in pcs[:5]]})
    resp = client.post("/admin/machines/bulk", data={"csrf_token": csrf_from(page), "action": "ungrant",
                                                      "holder": f"user:{world.users['emp']}",
                                                      "machine_id": [str(i) for i in pcs[:7]]}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "emp may no longer open 5 PCs." in html and "2 were not granted directly." in html
    with app.app_context():
        assert [g.machine.name for g in ops.get_user("emp").grants] == ["desk-1"]


def test_the_api_grants_many_at_once_and_all_or_nothing(app, client, world, login):
    admin = login("boss")
    resp = client.post("/api/v1/grants/bulk", headers=admin.headers(), json={
        "action": "grant", "users": ["emp", world.users["other"]], "groups": ["sales"],
        "machines": ["desk-2", "desk-boss"]})
    assert resp.status_code == 200 and resp.get_json() == {"action": "grant", "changed": 6, "unchanged": 0}
    # One unknown PC: 404 naming it, and nothing changed.
    before = _count(app, select(func.count()).select_from(Grant))
    resp = client.post("/api/v1/grants/bulk", headers=admin.headers(), json={
        "action": "ungrant", "users": ["emp"], "machines": ["desk-2", "no-such-pc"]})
    assert resp.status_code == 404 and "no-such-pc" in resp.get_json()["error"]["message"]
    assert _count(app, select(func.count()).select_from(Grant)) == before
    for bad in ({"action": "give", "users": ["emp"], "machines": ["desk-2"]},
                {"action": "grant", "users": "emp", "machines": ["desk-2"]},
                {"action": "grant", "users": [True], "machines": ["desk-2"]},
                {"action": "grant", "machines": ["desk-2"]}):
        assert client.post("/api/v1/grants/bulk", headers=admin.headers(), json=bad).status_code == 400, bad
    resp = client.post("/api/v1/grants/bulk", headers=admin.headers(), json={
        "action": "ungrant", "users": ["emp", "other"], "machines": ["desk-2"]})
    assert resp.get_json() == {"action": "ungrant", "changed": 2, "unchanged": 0}
    # Without the CSRF header a cookie call is refused.
    assert client.post("/api/v1/grants/bulk", json={"action": "grant", "users": ["emp"],
                                                     "machines": ["desk-3"]}).status_code == 400


def test_the_api_adds_many_members(app, client, world, login):
    admin = login("boss")
    resp = client.post("/api/v1/groups/sales/members/bulk", headers=admin.headers(),
                       json={"users": ["boss", "emp", "other"]})
    assert resp.get_json() == {"group": "sales", "changed": 2, "unchanged": 1}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(group_members)) == 3


def test_too_many_pairs_at_once_are_refused_whole(app, client, world, login, monkeypatch):
    from gateway.ops import bulk

    monkeypatch.setattr(bulk, "MAX_PAIRS", 3)
    admin = login("boss")
    before = _count(app, select(func.count()).select_from(Grant))
    resp = client.post("/api/v1/grants/bulk", headers=admin.headers(), json={
        "action": "grant", "users": ["emp", "other"], "machines": ["desk-2", "desk-3"]})
    assert resp.status_code == 400 and "At most 3 grants in one step." in resp.get_json()["error"]["message"]
    assert _count(app, select(func.count()).select_from(Grant)) == before
