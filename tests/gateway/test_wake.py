"""Wake-on-LAN on the gateway (issue 11 §5): who can wake whom, the wake route, the bus command.

A PC's interfaces are kept on its machine row from its agent's hello; it is wakeable
while offline when another online agent shares one of its subnets.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agents.protocol import control, wol
from gateway import nodebus, ops
from gateway.extensions import db
from gateway.models import AuditEvent, interfaces_json, note_agent_seen
from tests.support.agent_channels import open_channel

SLEEPER = wol.interface("00:1a:2b:3c:4d:5e", "192.168.10.23", 24, name="eth0")
NEIGHBOUR = wol.interface("00:16:3e:5a:6b:7c", "192.168.10.99", 24, name="eth0")
ELSEWHERE = wol.interface("00:16:3e:5a:6b:7d", "192.168.11.99", 24, name="eth0")


def _enrol(app, name, interfaces=()):
    with app.app_context():
        machine = ops.get_machine(name)
        ops.enrol_agent(ops.new_enrolment(machine), "host", "127.0.0.1")
        note_agent_seen(machine, {"version": "1", "interfaces": interfaces})
        db.session.commit()
        return machine.id


def _online(app, machine_id, interfaces):
    app.extensions["ponte.live"].agent_online(machine_id, "node-x", {
        "version": "1", "vnc_ok": True, "interfaces": interfaces_json(interfaces)}, ttl=30)


@pytest.fixture
def emp_token(app, world):
    with app.app_context():
        _, token = ops.create_token(ops.get_user("emp"), "emp-t", actor="boss")
    return {"Authorization": f"Bearer {token}"}


def _tile(client, headers, name="desk-1"):
    return {m["name"]: m for m in client.get("/api/v1/me/machines", headers=headers).get_json()["machines"]}[name]


def test_an_offline_pc_with_a_neighbour_online_is_wakeable_and_woken(app, client, world, emp_token, commands):
    desk1 = _enrol(app, "desk-1", (SLEEPER,))
    desk2 = _enrol(app, "desk-2", (NEIGHBOUR,))
    assert _tile(client, emp_token)["wakeable"] is False       # nobody online to send the packet
    _online(app, desk2, (NEIGHBOUR,))
    tile = _tile(client, emp_token)
    assert tile["state"] == "offline" and tile["wakeable"] is True

    r = client.post(f"/api/v1/machines/{desk1}/wake", json={}, headers=emp_token)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["waking"] is True and body["senders"] == 1 and body["timeout"] == 120.0
    assert "desk-2" not in r.get_data(as_text=True)  # an employee never learns other PCs' names
    cmd = commands.wait(lambda c: c.get("cmd") == "wake")
    assert cmd == {"cmd": "wake", "machine_id": desk2, "mac": SLEEPER.mac, "broadcast": "192.168.10.255"}
    with app.app_context():
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "machine_wake")).all()
        assert event.actor == "emp" and event.target == "desk-1" and "desk-2" in event.detail

    # Once its own agent is online it is not "wakeable" any more, and waking it is refused.
    _online(app, desk1, (SLEEPER,))
    assert _tile(client, emp_token)["wakeable"] is False
    r = client.post(f"/api/v1/machines/{desk1}/wake", json={}, headers=emp_token)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "online"


def test_no_neighbour_on_the_subnet_no_wake(app, client, world, emp_token, commands):
    desk1 = _enrol(app, "desk-1", (SLEEPER,))
    desk2 = _enrol(app, "desk-2", (ELSEWHERE,))
    _online(app, desk2, (ELSEWHERE,))
    assert _tile(client, emp_token)["wakeable"] is False
    r = client.post(f"/api/v1/machines/{desk1}/wake", json={}, headers=emp_token)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "no_waker"
    assert not [c for c in commands.drain() if c.get("cmd") == "wake"]


def test_a_pc_never_reported_interfaces_cannot_be_woken(app, client, world, emp_token):
    desk1 = _enrol(app, "desk-1")
    desk2 = _enrol(app, "desk-2", (NEIGHBOUR,))
    _online(app, desk2, (NEIGHBOUR,))
    assert _tile(client, emp_token)["wakeable"] is False
    r = client.post(f"/api/v1/machines/{desk1}/wake", json={}, headers=emp_token)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "no_waker"


def test_the_grant_is_checked_like_opening(app, client, world, emp_token):
    _enrol(app, "desk-3", (SLEEPER,))
    desk2 = _enrol(app, "desk-2", (NEIGHBOUR,))
    _online(app, desk2, (NEIGHBOUR,))
    r = client.post(f"/api/v1/machines/{world.machines['desk-3']}/wake", json={}, headers=emp_token)
    assert r.status_code == 403
    with app.app_context():
        assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "machine_wake")).all()


def test_an_agent_without_interfaces_keeps_the_stored_ones(app, world):
    _enrol(app, "desk-1", (SLEEPER,))
    with app.app_context():
        machine = ops.get_machine("desk-1")
        note_agent_seen(machine, {"version": "2", "interfaces": ()})
        assert machine.agent_interfaces == interfaces_json((SLEEPER,))


def test_admins_see_who_can_wake_a_pc(app, client, world, admin):
    desk1 = _enrol(app, "desk-1", (SLEEPER,))
    desk2 = _enrol(app, "desk-2", (NEIGHBOUR,))
    _online(app, desk2, (NEIGHBOUR,))
    machine = client.get(f"/api/v1/machines/{desk1}", headers={"Authorization": f"Bearer {world.token}"}).get_json()
    assert machine["machine"]["wakers"] == [{"machine_id": desk2, "name": "desk-2", "mac": SLEEPER.mac,
                                             "broadcast": "192.168.10.255"}]
    assert machine["machine"]["interfaces"] == [SLEEPER.as_dict()]
    page = client.get(f"/admin/machines/{desk1}").get_data(as_text=True)
    assert "Wake-on-LAN" in page and "desk-2" in page and SLEEPER.mac in page


class FakeSocket:
    def __init__(self):
        self.sent = []

    def write_message(self, data):
        self.sent.append(control.decode_from_gateway(data))


def test_the_node_holding_the_neighbour_passes_wake_on(app):
    hub = app.extensions["ponte.hub"]
    ws = FakeSocket()
    channel = open_channel(4242, ws)
    hub.attach_agent(channel)
    try:
        hub.on_bus_message(nodebus.encode(nodebus.Wake(4242, "00:1a:2b:3c:4d:5e", "192.168.10.255")))
        hub.on_bus_message(nodebus.encode(nodebus.Wake(4243, "00:1a:2b:3c:4d:5e", "192.168.10.255")))  # not here
    finally:
        hub.detach_agent(channel)
    assert ws.sent == [control.Wake(mac="00:1a:2b:3c:4d:5e", broadcast="192.168.10.255")]


def test_wake_on_the_bus_round_trips():
    command = nodebus.Wake(7, "00:1a:2b:3c:4d:5e", "192.168.10.255")
    assert nodebus.decode(nodebus.encode(command)) == command


def test_the_admin_list_shows_wakers_too(app, client, world):
    desk1 = _enrol(app, "desk-1", (SLEEPER,))
    desk2 = _enrol(app, "desk-2", (NEIGHBOUR,))
    _online(app, desk2, (NEIGHBOUR,))
    rows = client.get("/api/v1/machines", headers={"Authorization": f"Bearer {world.token}"}).get_json()["machines"]
    by_id = {row["id"]: row for row in rows}
    assert [w["name"] for w in by_id[desk1]["wakers"]] == ["desk-2"]
    assert by_id[desk1]["status"]["wakeable"] is True
    assert by_id[desk2]["wakers"] == []  # desk-1 is offline: it cannot wake anyone
