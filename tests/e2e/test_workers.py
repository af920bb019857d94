"""``serve --workers 2``: two nodes on one port, sessions across them, a clean stop (issue 16)."""

from __future__ import annotations

import json
import os
import signal
import urllib.request

import pytest
from PIL import Image

from tests.conftest import needs
from tests.support import ForwardProcess, wait_for

pytestmark = [needs("Xvnc"), pytest.mark.slow]


def _health(url: str) -> dict:
    # A new connection each time: SO_REUSEPORT spreads connections, not requests.
    with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
        return json.loads(resp.read())


def test_two_workers_share_the_port_and_sessions_cross_them(gateway_factory, agent_factory, vnc_factory,
                                                             vncdotool, tmp_path):
    gw = gateway_factory(ready_timeout=90, PONTE_WORKERS="2", PONTE_NODE_ID="box", PONTE_HEARTBEAT="2")
    wait_for(lambda: "(2 workers" in gw.log_tail(), timeout=30, what="both workers listening")
    answered = {_health(gw.url)["node"] for _ in range(60)}
    assert answered == {"box-w0", "box-w1"}, answered  # both workers take connections
    gw.add_user("emp", "emppass12")
    vnc = vnc_factory()
    vnc.set_color("#16a085")
    agent_factory(gw, "pc", vnc)  # its control channel lands on one worker
    gw.cli("grant", "emp", "pc")
    # Several sessions: viewers land on either worker, the agent's streams on either; each one
    # reaches its viewer whichever worker holds what. A stream that lands on the other worker
    # is handed to it, socket and all (gateway/siblings.py), never relayed between the two.
    # Until one was (each session: one chance in two), and at least four.
    for i in range(12):
        if i >= 4 and "stream handed to worker" in gw.log_tail(20000):
            break
        fwd = ForwardProcess.start(tmp_path / f"fwd-{i}", gw.url, "pc", "emp", "emppass12")
        try:
            client = vncdotool.connect(f"127.0.0.1::{fwd.port}", password=None, timeout=15)
            try:
                client.captureScreen(str(tmp_path / f"screen-{i}.png"))
            finally:
                client.disconnect()
        finally:
            fwd.stop()
        assert Image.open(tmp_path / f"screen-{i}.png").convert("RGB").getpixel((5, 5)) == (0x16, 0xA0, 0x85)
    log = gw.log_tail(20000)
    assert "stream handed to worker" in log
    assert "relaying it node to node" not in log and "hand-over refused" not in log
    # SIGTERM the supervisor: every worker drains and exits, and so does it.
    workers = [int(p) for p in os.popen(f"pgrep -P {gw.proc.pid}").read().split()]
    assert len(workers) == 2
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(30) == 0, gw.log_tail()
    wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"
                             for pid in workers), timeout=10, what="the workers to exit")
    assert gw.log_tail(20000).count("drained in") == 2


def test_workers_refuse_the_embedded_redis(tmp_path):
    import subprocess
    import sys

    from tests.support import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_") and k != "REDIS_URL"}
    env.update({"PONTE_INSTANCE_PATH": str(tmp_path / "instance"), "PYTHONPATH": str(ROOT)})
    res = subprocess.run([sys.executable, "-m", "gateway", "serve", "--workers", "2", "--port", "0"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "shared Redis" in res.stderr, res.stderr


def test_a_worker_that_dies_is_started_again_and_takes_connections(gateway_factory):
    gw = gateway_factory(ready_timeout=90, PONTE_WORKERS="2", PONTE_NODE_ID="box", PONTE_HEARTBEAT="2")
    wait_for(lambda: "(2 workers" in gw.log_tail(), timeout=30, what="both workers listening")
    workers = [int(p) for p in os.popen(f"pgrep -P {gw.proc.pid}").read().split()]
    assert len(workers) == 2
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)  # a crash: no drain, no goodbye
    wait_for(lambda: "exited with -9; starting it again" in gw.log_tail(), timeout=15, what="the supervisor to notice")

    def replaced() -> bool:
        now = [int(p) for p in os.popen(f"pgrep -P {gw.proc.pid}").read().split()]
        return len(now) == 2 and victim not in now
    wait_for(replaced, timeout=30, what="a new worker in the dead one's place")
    wait_for(lambda: {_health(gw.url)["node"] for _ in range(40)} == {"box-w0", "box-w1"}, timeout=60,
             interval=0.5, what="both worker nodes answering again")
    assert gw.proc.poll() is None  # the supervisor itself carried on
