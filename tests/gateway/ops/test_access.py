"""The one access rule: direct grants and group grants; admins need grants; disabled users get nothing."""

from __future__ import annotations

import pytest

from gateway import ops
from gateway.models import granted_machines, machine_for_user, users_with_access


@pytest.fixture
def ctx(app, world):
    with app.app_context():
        yield world


def names(machines) -> list[str]:
    return [m.name for m in machines]


def test_direct_and_group_grants(ctx):
    emp, other, boss = ops.get_user("emp"), ops.get_user("other"), ops.get_user("boss")
    assert names(granted_machines(emp)) == ["desk-1"]
    assert names(granted_machines(other)) == ["desk-3"]            # through group sales
    assert names(granted_machines(boss)) == ["desk-boss"]          # admins need grants too
    assert machine_for_user(other, "desk-3").name == "desk-3"
    assert machine_for_user(other, ctx.machines["desk-3"]) is not None
    assert machine_for_user(other, "desk-1") is None
    assert machine_for_user(boss, "desk-1") is None
    assert machine_for_user(emp, "no-such-pc") is None
    assert [u.name for u in users_with_access(ops.get_machine("desk-3"))] == ["other"]


def test_direct_and_group_grant_together_listed_once(ctx):
    other, desk3 = ops.get_user("other"), ops.get_machine("desk-3")
    ops.grant(other, desk3)
    assert names(granted_machines(other)) == ["desk-3"]
    ops.remove_member(ops.get_group("sales"), other)
    assert machine_for_user(other, "desk-3") is not None           # the direct grant remains


def test_disabled_user_may_open_nothing(ctx):
    other = ops.get_user("other")
    ops.set_disabled(other, True)
    assert granted_machines(other) == [] and machine_for_user(other, "desk-3") is None


def test_group_member_removal_ends_only_lost_sessions(app, ctx, commands):
    other = ops.get_user("other")
    ops.grant(other, ops.get_machine("desk-3"))     # keeps access directly
    ops.remove_member(ops.get_group("sales"), other)
    assert not [c for c in commands.drain() if c.get("cmd") == "end"]
    ops.ungrant(other, ops.get_machine("desk-3"))
    cmd = commands.wait(lambda c: c.get("cmd") == "end")
    assert cmd == {"cmd": "end", "session": ctx.live["other"], "reason": ops.ACCESS_REMOVED}


def test_names_are_checked(ctx):
    for bad in ("", "   ", "x" * 65, "tab\there", "123"):
        with pytest.raises(ops.AdminError):
            ops.add_group(bad)
    with pytest.raises(ops.Conflict):
        ops.rename(ops.add_group("g2"), "sales")


def test_ids_are_never_reused(ctx):
    gone = ops.add_user("temp", "temppass12")
    gone_id = gone.id
    ops.delete_user(gone)
    assert ops.add_user("next", "nextpass12").id > gone_id
