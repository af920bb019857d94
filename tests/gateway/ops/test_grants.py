"""``ops.grant``/``ops.ungrant`` (to a user or a group) and ``ops.rename`` (a group or a machine):
one function each, the audit actions and targets of before, sessions ended when access goes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway import ops
from gateway.extensions import db
from gateway.models import AuditEvent, machine_for_user


def last_audit(action: str) -> AuditEvent | None:
    return db.session.scalar(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc()))


@pytest.mark.parametrize("kind, holder, member, suffix, label", [
    ("user", "emp", "emp", "", "emp"),
    ("group", "sales", "other", "_group", "group sales"),
])
def test_grant_and_ungrant_to_a_user_or_a_group(app, world, kind, holder, member, suffix, label):
    with app.app_context():
        who = ops.get_user(holder) if kind == "user" else ops.get_group(holder)
        desk2, person = ops.get_machine("desk-2"), ops.get_user(member)
        assert machine_for_user(person, desk2.id) is None
        assert ops.grant(who, desk2, actor="boss", ip="192.0.2.1") is True
        assert ops.grant(who, desk2, actor="boss") is False   # there already: nothing audited twice
        event = last_audit("grant" + suffix)
        assert (event.target, event.actor, event.ip) == (f"{label} → desk-2", "boss", "192.0.2.1")
        assert len(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "grant" + suffix, AuditEvent.target == f"{label} → desk-2")).all()) == 1
        assert machine_for_user(person, desk2.id) is not None
        assert ops.ungrant(who, desk2, actor="boss") is True
        assert ops.ungrant(who, desk2, actor="boss") is False
        assert last_audit("ungrant" + suffix).target == f"{label} → desk-2"
        assert machine_for_user(person, desk2.id) is None


@pytest.mark.parametrize("kind, holder, machine, owner", [
    ("user", "emp", "desk-1", "emp"),
    ("group", "sales", "desk-3", "other"),
])
def test_ungrant_ends_the_sessions_it_allowed(app, world, commands, kind, holder, machine, owner):
    with app.app_context():
        who = ops.get_user(holder) if kind == "user" else ops.get_group(holder)
        assert ops.ungrant(who, ops.get_machine(machine), actor="boss")
    cmd = commands.wait(lambda c: c.get("cmd") == "end")
    assert cmd == {"cmd": "end", "session": world.live[owner], "reason": ops.ACCESS_REMOVED}
    assert not [c for c in commands.drain() if c.get("session") not in (None, world.live[owner])]


@pytest.mark.parametrize("kind, ref, action, label", [
    ("group", "sales", "group_rename", "group"), ("machine", "desk-2", "machine_rename", "machine"),
])
def test_rename_a_group_or_a_machine(app, world, kind, ref, action, label):
    with app.app_context():
        get = ops.get_group if kind == "group" else ops.get_machine
        record = get(ref)
        ops.rename(record, "  renamed  ", actor="boss")
        assert get("renamed").id == record.id
        event = last_audit(action)
        assert (event.target, event.detail) == ("renamed", f"was {ref}")
        ops.rename(record, "renamed", actor="boss")   # the same name: nothing to do, nothing audited
        assert last_audit(action).id == event.id
        taken = ops.add_group("taken") if kind == "group" else ops.add_machine("taken")[0]
        with pytest.raises(ops.Conflict, match=f"{label.capitalize()} 'taken' exists already"):
            ops.rename(record, "taken")
        with pytest.raises(ops.AdminError, match=f"A {label} name cannot be only digits"):
            ops.rename(record, "1234")
        assert get(record.id).name == "renamed" and taken.name == "taken"
