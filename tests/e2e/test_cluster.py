"""Two gateway nodes, one Redis and one database (DESIGN.md §6).

The agent holds its control channel on node B; the employee reaches node A.
A asks B over Redis to have the agent open the stream; the stream lands on B
(the agent's URL) and B forwards it to A, where the viewer waits.
"""

from __future__ import annotations

import pytest
from PIL import Image

from agents.protocol.rfb import ServerRefused
from tests.conftest import needs
from tests.support import ForwardProcess, WebClient, rfb_open, wait_for

pytestmark = [needs("Xvnc"), pytest.mark.slow]


@pytest.fixture
def cluster(gateway_factory, tmp_path):
    shared = {"PONTE_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "PONTE_SECRET_KEY": "k" * 48,
              "PONTE_REDIS_PREFIX": f"cluster-{tmp_path.name}:", "PONTE_HEARTBEAT": "2"}
    a = gateway_factory(PONTE_NODE_ID="node-a", **shared)
    b = gateway_factory(PONTE_NODE_ID="node-b", **shared)
    return a, b


def test_viewer_on_one_node_reaches_agent_on_another(cluster, agent_factory, vnc_factory, vncdotool, tmp_path):
    a, b = cluster
    a.add_user("emp", "emppass12")
    vnc = vnc_factory()
    vnc.set_color("#8e44ad")
    agent_factory(b, "pc", vnc)  # enrols and connects through node B
    a.cli("grant", "emp", "pc")
    assert a.machine_state("pc") == "online"  # node A sees it online through Redis
    fwd = ForwardProcess.start(tmp_path / "fwd", a.url, "pc", "emp", "emppass12")
    try:
        client = vncdotool.connect(f"127.0.0.1::{fwd.port}", password=None, timeout=15)
        try:
            client.captureScreen(str(tmp_path / "screen.png"))
        finally:
            client.disconnect()
    finally:
        fwd.stop()
    assert Image.open(tmp_path / "screen.png").convert("RGB").getpixel((10, 10)) == (0x8E, 0x44, 0xAD)
    # The agent's stream reached B (its URL) and B handed it to A, where the viewer was.
    assert "forwarded to the node at" in b.log_tail(20000)
    assert "forwarded to the node at" not in a.log_tail(20000)


def test_agent_failure_reason_crosses_nodes(cluster, agent_factory, vnc_factory):
    import dataclasses

    a, b = cluster
    a.add_user("emp", "emppass12")
    vnc = vnc_factory(password="rightpw1")
    agent_factory(b, "pc", dataclasses.replace(vnc, password="wrongpw1"), wait_online=False)
    a.cli("grant", "emp", "pc")
    wait_for(lambda: a.machine_state("pc") == "vnc_down", timeout=20, interval=0.3, what="VNC down")
    emp = WebClient(a.url, "emp", "emppass12")
    issued = emp.open_session("pc")
    ws = emp.view_socket(issued["ticket"])
    ws.settimeout(15)
    # The viewer is told in RFB itself (RFC 6143 §7.1.2), across both nodes …
    with pytest.raises(ServerRefused, match="VNC password in Ponte is wrong"):
        rfb_open(ws)
    # … and the gateway keeps the reason, reported by the agent to node B, for node A's viewer.
    status = wait_for(lambda: (lambda s: s if s.get("end_reason") else None)(
        emp.json("GET", f"/api/v1/sessions/{issued['session']}")), timeout=10, what="end reason")
    assert "VNC password in Ponte is wrong" in status["end_reason"]
    assert status["reconnect"] is False


def test_a_forwarded_streams_agent_hop_is_timed_the_whole_way(gateway_factory, agent_factory, vnc_factory,
                                                              vncdotool, redis_server, tmp_path):
    """Issue 14: node B answers node A's pings itself, so B times its own leg to the agent and
    writes it to the session's record; A's history keeps both legs as the agent hop."""
    import time

    import redis

    prefix = f"qcluster-{tmp_path.name}:"
    shared = {"PONTE_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "PONTE_SECRET_KEY": "k" * 48,
              "PONTE_REDIS_PREFIX": prefix, "PONTE_HEARTBEAT": "2", "PONTE_STREAM_PING_INTERVAL": "1"}
    a = gateway_factory(PONTE_NODE_ID="node-a", **shared)
    b = gateway_factory(PONTE_NODE_ID="node-b", **shared)
    a.add_user("emp", "emppass12")
    a.add_user("boss", "bosspass12", admin=True)
    agent_factory(b, "pc", vnc_factory())
    a.cli("grant", "emp", "pc")
    store = redis.Redis.from_url(redis_server)
    fwd = ForwardProcess.start(tmp_path / "fwd", a.url, "pc", "emp", "emppass12")
    try:
        client = vncdotool.connect(f"127.0.0.1::{fwd.port}", password=None, timeout=15)
        try:
            client.captureScreen(str(tmp_path / "screen.png"))
            records = wait_for(lambda: [store.hgetall(k) for k in store.scan_iter(f"{prefix}session:*")
                                        if store.hget(k, "rtt_agent_far_ms") and store.hget(k, "rtt_agent_ms")],
                               timeout=15, what="both legs in the live record")
            live = {k.decode(): v.decode() for k, v in records[0].items()}
            client.captureScreen(str(tmp_path / "screen2.png"))
            time.sleep(1.2)
        finally:
            client.disconnect()
    finally:
        fwd.stop()
    assert "forwarded to the node at" in b.log_tail(20000)
    near, far = float(live["rtt_agent_ms"]), float(live["rtt_agent_far_ms"])
    assert 0 <= near < 100 and 0 < far < 100
    boss = WebClient(a.url, "boss", "bosspass12")
    row = wait_for(lambda: next((r for r in boss.json("GET", "/api/v1/history")["history"] if r["end_reason"]), None),
                   timeout=10, what="history row")
    # both legs' medians: at least the far leg's (B ⇄ agent), which A's own pings never reach
    assert row["rtt_agent_ms"] is not None and row["rtt_agent_ms"] >= round(float(live["rtt_agent_far_p50_ms"]))
    assert row["rtt_viewer_ms"] is not None
