"""``make demo``'s program: everything starts, the logins work, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs
from tests.support import ROOT, WebClient, free_port, wait_for

pytestmark = [needs("Xvnc", "vncpasswd", "xdpyinfo"), pytest.mark.slow]


def descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,sid="], capture_output=True, text=True).stdout
    rows = [tuple(map(int, line.split())) for line in out.splitlines() if line.strip()]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent, _sid in rows if parent in frontier} - found
        found |= frontier
    return found


def redis_servers(under=None) -> set[int]:
    """redis-server processes; with ``under``, only those working in that folder (ours, not a neighbour's)."""
    out = subprocess.run(["ps", "-eo", "pid=,comm="], capture_output=True, text=True).stdout
    pids = {int(line.split()[0]) for line in out.splitlines() if "redis-server" in line}
    if under is None:
        return pids
    mine = set()
    for pid in pids:
        try:
            if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(under):
                mine.add(pid)
        except OSError:
            pass  # gone meanwhile
    return mine


@pytest.mark.parametrize("presses", [1, 2, "burst"], ids=["ctrl-c", "ctrl-c-twice", "ctrl-c-twice-at-once"])
def test_demo_runs_and_stops_cleanly(tmp_path, presses):
    # The embedded Redis daemonises: not a descendant; it is found by its folder instead.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_") and k != "REDIS_URL"}
    env.update({"PONTE_PORT": str(port), "PONTE_DEMO_STATE": str(tmp_path / "state")})
    out = tmp_path / "demo.out"
    proc = subprocess.Popen([sys.executable, "-m", "demo"], cwd=ROOT, env=env, stdout=open(out, "w"),
                            stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Press Ctrl-C" in out.read_text() or proc.poll() is not None, timeout=90,
                 interval=0.3, what="the demo to be ready")
        text = out.read_text()
        assert proc.poll() is None, text
        employee = re.search(r"employee:\s+(\S+) / (\S+)", text)
        admin = re.search(r"admin:\s+(\S+) / (\S+)", text)
        assert f"http://127.0.0.1:{port}/" in text and employee and admin
        # Both printed logins work, and the employee's PC is online.
        emp = WebClient(f"http://127.0.0.1:{port}", employee.group(1), employee.group(2))
        machines = emp.json("GET", "/api/v1/me/machines")["machines"]
        assert [(m["name"], m["state"]) for m in machines] == [("office-pc", "online")]
        WebClient(f"http://127.0.0.1:{port}", admin.group(1), admin.group(2))
        children = descendants(proc.pid)
        assert redis_servers(under=tmp_path), "the demo's embedded Redis should run in its state folder"
        assert len(children) >= 3  # Xvnc, gateway, agent (and more)
    finally:
        proc.send_signal(signal.SIGINT)
        if presses == "burst":
            # The second one before the demo has begun to stop. Two SIGINTs pending at once are
            # one for the process (signals do not queue), so "forcing" may or may not be said;
            # either way the shutdown must finish whole.
            proc.send_signal(signal.SIGINT)
        if presses == 2:  # the second press lands while the demo waits for the gateway to drain
            wait_for(lambda: "press Ctrl-C again" in out.read_text() or proc.poll() is not None,
                     timeout=10, what="the demo to say it is stopping")
            proc.send_signal(signal.SIGINT)
        proc.wait(30)
    text = out.read_text()
    assert "Traceback" not in text, text
    assert "press Ctrl-C again to force" in text
    if presses == 2:
        assert "forcing" in text, text
    left = [pid for pid in children if os.path.exists(f"/proc/{pid}") and
            not open(f"/proc/{pid}/stat").read().split()[2] == "Z"]
    assert left == [], f"stray processes after Ctrl-C: {left}"
    wait_for(lambda: not redis_servers(under=tmp_path), timeout=10, what="the embedded Redis to stop")
