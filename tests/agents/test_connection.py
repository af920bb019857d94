"""Staying connected, with real processes: a real gateway (1 s heartbeat) and a real agent.

The VNC server here is the small RFB 3.3 test server (tests/agents/conftest.py): these tests
are about the control channel, and it keeps them fast.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from agents.runtime import RECONNECT_JITTER
from tests.agents.conftest import RFB33Server, gateway_node, live_agent
from tests.support import wait_for

pytestmark = pytest.mark.slow


def machine_id(gw, name: str) -> int:
    for line in gw.cli("machine", "list").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] == name:
            return int(parts[0])
    raise KeyError(name)


@pytest.fixture
def online(gateway_factory, agent_factory, tiny_servers):
    """(gateway, agent, machine id) with the agent online."""
    gw = gateway_factory(PONTE_HEARTBEAT="1")
    vnc = tiny_servers(RFB33Server)
    agent = agent_factory(gw, "pc-1", vnc)
    return gw, agent, machine_id(gw, "pc-1")


def test_gateway_restart_agent_back_within_backoff_bound(online):
    gw, agent, mid = online
    before = len(agent.log_text())
    t0 = time.monotonic()
    gw.restart()  # returns once the new process listens (tests.support.Gateway._ready)
    listening = time.monotonic()
    new_node = gateway_node(gw)
    wait_for(lambda: (live_agent(gw, mid) or {}).get("node") == new_node, timeout=70, interval=0.05,
             what="agent registered with the restarted gateway")
    back = time.monotonic()
    log = agent.log_text()[before:]
    delays = [float(d) for d in re.findall(r"reconnecting in ([\d.]+) s", log)]
    print(f"\ngateway restart took {listening - t0:.2f} s; agent online again {back - listening:.2f} s after "
          f"the gateway listened ({back - t0:.2f} s in all); waits {delays}")
    assert delays, log
    # A draining gateway (SIGTERM) first asks for a reconnect in Reconnect.after plus the agent's
    # jitter; then the gateway, healthy moments ago, gets quick redials (ceilings 0.5, 1, then 2 s).
    if "asks us to reconnect" in log:
        asked = re.search(r"asks us to reconnect in ([\d.]+) s", log)
        assert delays[0] <= float(asked.group(1)) + 0.5 + RECONNECT_JITTER + 0.05, delays
        delays = delays[1:]
    assert (not delays or delays[0] <= 0.55) and all(d <= 2.05 for d in delays), delays  # log rounds to 0.1 s
    # back within one quick ceiling (plus connecting and registering)
    assert back - listening <= 2.0 + 2.0
    assert gw.machine_state("pc-1") == "online"


def test_gateway_marks_agent_offline_after_three_missed_heartbeats(online):
    gw, agent, mid = online
    assert live_agent(gw, mid) is not None
    os.kill(agent.proc.pid, signal.SIGSTOP)  # alive, TCP open, but silent
    try:
        t0 = time.monotonic()
        wait_for(lambda: live_agent(gw, mid) is None, timeout=15, interval=0.05, what="agent offline")
        offline_after = time.monotonic() - t0
        assert gw.machine_state("pc-1") == "offline"
    finally:
        os.kill(agent.proc.pid, signal.SIGCONT)
    t1 = time.monotonic()
    wait_for(lambda: live_agent(gw, mid) is not None, timeout=20, interval=0.05, what="agent online again")
    print(f"\nheartbeat 1 s: offline {offline_after:.2f} s after the agent froze; "
          f"online again {time.monotonic() - t1:.2f} s after it resumed")
    assert 2.0 <= offline_after <= 6.0  # 3 missed heartbeats of 1 s, not the 8 s Redis TTL
    assert agent.proc.poll() is None


def test_revoked_credential_stops_the_agent_with_exit_code_3(online):
    gw, agent, mid = online
    before = len(agent.log_text())
    t0 = time.monotonic()
    gw.cli("machine", "revoke", "pc-1")
    code = agent.proc.wait(timeout=20)
    took = time.monotonic() - t0
    log = agent.log_text()[before:]
    print(f"\nagent exited with {code} {took:.2f} s after the revocation; it logged:\n"
          + "\n".join(line for line in log.splitlines() if "refused" in line))
    assert code == 3
    assert "the gateway refused this PC's credential: This machine was revoked by an admin." in log
    assert "Not retrying" in log
    assert "reconnecting in" not in log
    assert live_agent(gw, mid) is None

    # Started again later (a service manager, a person): refused at hello, exits 3 at once.
    agent.start()
    assert agent.proc.wait(timeout=20) == 3
    assert "This machine's credential was revoked." in agent.log_text()


def test_stop_is_clean_and_quick(online):
    gw, agent, mid = online
    t0 = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=10) == 0
    print(f"\nSIGTERM → exit 0 in {time.monotonic() - t0:.2f} s")
    assert "Ponte agent stopped" in agent.log_text()
    wait_for(lambda: live_agent(gw, mid) is None, timeout=5, what="offline after a clean stop")
