"""What people see when a PC's VNC server cannot be used (issue 11 §4, gateway/machine_status.py).

The agent reports why (``vnc_state``) and the admin's sentence (``vnc_detail``, with the
internal address and the fix). Employees read one plain sentence per reason, never the
address; admins get the whole detail, uncut; an agent too old to send a reason still
gets a sentence, not a crash.
"""

from __future__ import annotations

import pytest

from agents.protocol import vncstate
from gateway import ops


def enrol_and_report(app, machine_id, **info):
    with app.app_context():
        code = ops.new_enrolment(ops.get_machine(machine_id))
        ops.enrol_agent(code, "host", "127.0.0.1")
    app.extensions["ponte.live"].agent_online(machine_id, "node-x", {"version": "1.0", "os": "Linux",
                                                                     "hostname": "h", **info}, ttl=30)


def tile(client, name):
    return {m["name"]: m for m in client.get("/api/v1/me/machines").get_json()["machines"]}[name]


DETAIL = ("VNC server at 127.0.0.1:5900 rejected the password: Authentication failure. The agent stopped trying "
          "this password so that the VNC server does not block logins from this PC; it tries again as soon as "
          "the password (vnc_password_file) changes, or when an admin presses \"Retry VNC login\" on the PC's "
          "admin page.")


@pytest.mark.parametrize("kind", vncstate.KINDS)
def test_each_reason_its_own_sentence_for_employees(app, client, login, world, kind):
    login("emp")
    enrol_and_report(app, world.machines["desk-1"], vnc_ok=False, vnc_state=kind, vnc_detail=DETAIL)
    t = tile(client, "desk-1")
    assert t["state"] == "vnc_down" and t["available"] is False
    assert t["message"] == vncstate.EMPLOYEE[kind]
    assert "127.0.0.1" not in str(t) and "5900" not in str(t)  # never the internal address


def test_wrong_password_sentence_and_admin_detail_uncut(app, client, login, world):
    enrol_and_report(app, world.machines["desk-1"], vnc_ok=False, vnc_state="locked", vnc_detail=DETAIL)
    login("emp")
    assert tile(client, "desk-1")["message"] == "The PC's VNC password in Ponte is wrong — ask your admin."
    admin = app.test_client()
    machine = admin.get(f"/api/v1/machines/{world.machines['desk-1']}",
                        headers={"Authorization": f"Bearer {world.token}"}).get_json()
    status = machine["machine"]["status"] if "machine" in machine else machine["status"]
    assert status["vnc_detail"] == DETAIL and status["vnc_state"] == "locked"  # 300+ characters, whole
    from tests.support.web import AuthActions
    from tests.support.web import PASSWORDS
    AuthActions(admin).login("boss", PASSWORDS["boss"])
    page = admin.get(f"/admin/machines/{world.machines['desk-1']}").get_data(as_text=True)
    assert "not usable (locked)" in page and "Retry VNC login" in page
    assert "does not block logins from this PC; it tries again as soon as" in page


def test_an_older_agent_without_a_reason(app, client, login, world):
    login("emp")
    enrol_and_report(app, world.machines["desk-1"], vnc_ok=False, vnc_detail="VNC server at 127.0.0.1:5900 is "
                                                                            "not answering (Connection refused)")
    t = tile(client, "desk-1")
    assert t["message"] == vncstate.UNKNOWN and "127.0.0.1" not in t["message"]


def test_retry_route_audits_and_tells_every_node(app, client, world, commands):
    from sqlalchemy import select

    from gateway.extensions import db
    from gateway.models import AuditEvent

    mid = world.machines["desk-1"]
    r = client.post(f"/api/v1/machines/{mid}/vnc-retry", json={}, headers={"Authorization": f"Bearer {world.token}"})
    assert r.status_code == 200, r.get_json()
    commands.wait(lambda c: c.get("cmd") == "vnc_retry" and c["machine_id"] == mid)
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "machine_vnc_retry")).all()
