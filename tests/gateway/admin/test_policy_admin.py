"""The admin console's policy pages: the global one, a group's, a PC's."""

from __future__ import annotations

import pytest

from gateway import ops
from gateway.ops import policy as policy_ops


@pytest.fixture
def group_and_pc(app, users):
    with app.app_context():
        g = ops.add_group("floor")
        return {"group": g.id, "machine": users["machine_id"]}


@pytest.mark.parametrize("level", ["global", "group", "machine"])
def test_policy_form_saves_and_shows(app, admin, client, group_and_pc, level):
    page = {"global": "/admin/policy", "group": f"/admin/groups/{group_and_pc['group']}/policy",
            "machine": f"/admin/machines/{group_and_pc['machine']}/policy"}[level]
    html = client.get(page).get_data(as_text=True)
    assert 'id="policy-form"' in html
    resp = client.post(page, data={"csrf_token": admin.csrf, "concurrency": "exclusive", "idle_timeout": "20",
                                   "max_duration": "", "hours_mode": "only", "hours": "mon-fri 8:00-19:00"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(page)
    with app.app_context():
        target = {"global": None, "group": ops.get_group("floor"), "machine": ops.get_machine("desk-1")}[level]
        rules = policy_ops.get_rules(target)
    assert (rules.concurrency, rules.idle_timeout, rules.max_duration) == ("exclusive", 20, None)
    html = client.get(page).get_data(as_text=True)
    assert 'value="Mon-Fri 08:00-19:00"' in html and '<option value="exclusive" selected>' in html
    # "any time" and back to "not set"
    client.post(page, data={"csrf_token": admin.csrf, "hours_mode": "any", "concurrency": ""})
    with app.app_context():
        rules = policy_ops.get_rules(target)
    assert (rules.concurrency, rules.hours, rules.idle_timeout) == (None, (), None)


def test_a_bad_value_is_flashed_and_nothing_changes(app, admin, client, group_and_pc):
    resp = client.post("/admin/policy", data={"csrf_token": admin.csrf, "hours_mode": "only", "hours": "9 to 5"},
                       follow_redirects=True)
    assert "cannot read" in resp.get_data(as_text=True)
    resp = client.post("/admin/policy", data={"csrf_token": admin.csrf, "idle_timeout": "ten"},
                       follow_redirects=True)
    assert "whole number" in resp.get_data(as_text=True)
    with app.app_context():
        assert policy_ops.get_rules(None) == policy_ops.policy.Rules()


def test_group_and_pc_pages_link_their_policy(admin, client, group_and_pc):
    assert f"/admin/groups/{group_and_pc['group']}/policy" in client.get(
        f"/admin/groups/{group_and_pc['group']}").get_data(as_text=True)
    assert f"/admin/machines/{group_and_pc['machine']}/policy" in client.get(
        f"/admin/machines/{group_and_pc['machine']}").get_data(as_text=True)
