"""One gateway node killed or forced down, then started again (issue 8 items 4 and 5).

SQLite and the suite's Redis; a real agent and Xvnc. The rows a node left
open are closed when it starts again (fixed ``node_id``), or, with the
default ``hostname-pid`` id, once the old id's record has expired and the
new process has seen Redis for a node TTL. A second SIGTERM exits at once
and leaves the open sessions' ends in the node's journal.
"""

from __future__ import annotations

import signal
import socket
import struct
import time

import pytest

from tests.conftest import needs
from tests.support import WebClient, rfb_open, wait_for

pytestmark = [needs("Xvnc"), pytest.mark.slow]

NODE_STOPPED = "gateway node stopped"


def _setup(gateway_factory, agent_factory, vnc_factory, **env):
    gw = gateway_factory(PONTE_NODE_TTL="3", PONTE_LOGIN_LIMIT="1000 per minute", **env)
    gw.add_user("emp", "emppass12")
    gw.add_user("boss", "bosspass12", admin=True)
    agent_factory(gw, "pc", vnc_factory())
    gw.cli("grant", "emp", "pc")
    return gw


def _open(gw):
    emp = WebClient(gw.url, "emp", "emppass12")
    issued = emp.open_session("pc")
    ws = emp.view_socket(issued["ticket"])
    rfb_open(ws)
    return issued["session"], ws


def _closed(gw, session):
    """A poller: the session's history row once it is closed (one admin login for all polls)."""
    boss = WebClient(gw.url, "boss", "bosspass12")

    def poll():
        rows = boss.json("GET", "/api/v1/history")["history"]
        return next((r for r in rows if r["id"] == session and r["ended_at"]), None)
    return poll


def _restart_after_kill(gw):
    gw.proc.send_signal(signal.SIGKILL)
    gw.proc.wait(10)
    gw.start()


def test_killed_node_closes_its_own_leftovers_at_start(gateway_factory, agent_factory, vnc_factory):
    gw = _setup(gateway_factory, agent_factory, vnc_factory, PONTE_NODE_ID="gw-fixed")
    session, ws = _open(gw)
    time.sleep(5.5)  # one progress write: Redis has the session's bytes
    _restart_after_kill(gw)
    started = time.monotonic()
    row = wait_for(_closed(gw, session), timeout=10,
                   interval=0.3, what="the leftover row closed")
    print(f"own leftover closed {time.monotonic() - started:.1f}s after the restart")
    assert row["end_reason"] == NODE_STOPPED and row["bytes_to_viewer"] > 0
    assert WebClient(gw.url, "boss", "bosspass12").json("GET", "/api/v1/sessions")["sessions"] == []
    ws.close_with(1000)


def test_default_node_id_predecessor_is_reaped_after_the_grace(gateway_factory, agent_factory, vnc_factory):
    gw = _setup(gateway_factory, agent_factory, vnc_factory)  # node id hostname-pid: new on restart
    session, ws = _open(gw)
    _restart_after_kill(gw)
    started = time.monotonic()
    row = wait_for(_closed(gw, session), timeout=20,
                   interval=0.3, what="the predecessor's row closed")
    print(f"predecessor's row closed {time.monotonic() - started:.1f}s after the restart")
    assert row["end_reason"] == NODE_STOPPED
    ws.close_with(1000)


def test_second_signal_exits_at_once_and_journals(gateway_factory, agent_factory, vnc_factory):
    gw = _setup(gateway_factory, agent_factory, vnc_factory, PONTE_NODE_ID="gw-forced")
    session, ws = _open(gw)
    # A viewer that stops reading with screens queued: its close takes the drain a moment.
    ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for _ in range(200):
        ws.write_message(struct.pack(">BBHHHH", 3, 0, 0, 0, 320, 240))
    time.sleep(2)
    log = gw.instance / "gateway.log"
    gw.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: b"draining" in log.read_bytes(), timeout=5, interval=0.02, what="the drain to start")
    started = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)  # signals coalesce: the second one after the first was seen
    assert gw.proc.wait(5) == 1  # forced, not drained
    print(f"forced exit {time.monotonic() - started:.2f}s after the second signal")
    assert b"second signal" in log.read_bytes()
    gw.start()
    row = wait_for(_closed(gw, session), timeout=10, interval=0.3, what="the journaled end written")
    assert row["end_reason"] == "The gateway is restarting"
    ws.close_with(1000)
