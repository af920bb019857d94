"""``python -m bench.shadow [--seconds N]``: what a second viewer on one PC costs (issue 14, shadowing).

A real stack on 127.0.0.1 (Redis, a gateway, Xvnc 800x600, an enrolled agent); the X root
window changes colour every 50 ms, so every update is a full screen. Viewers speak raw RFB
through /ws/view (Raw encoding, one incremental update request after each update: each at
its own pace, as noVNC does). For 1 and then 2 simultaneous viewers it reports the bytes each
viewer received per second and the CPU the gateway and the agent used.

Ponte gives each viewer its own agent stream and VNC connection (ClientInit shared=1) rather
than fanning one stream out: each viewer has its own pixel format, encodings and pace, which
the VNC server encodes for; a fanned-out stream would run at the slowest viewer's pace in one
format, or the gateway would have to decode and re-encode RFB. This measures that choice's cost.
Every process it starts it stops, also on Ctrl-C.

Measured 2026-12-01 on the 2-core dev machine (others' tests running), 5 s each, CPU in cores::

    viewers   MB/s each        gateway  agent  Xvnc
    1         33.0             0.044    0.034  0.056
    2         31.1, 30.7       0.078    0.052  0.076

The animation offers ~38 MB/s (20 full 800x600 frames a second); both viewers get nearly all of it.
A second viewer costs the gateway and the agent about what the first does (they move its bytes
again: ~0.03 and ~0.02 cores), Xvnc a third more (one framebuffer, one more encoding of it):
a few percent of a core for an admin's occasional look, against the complexity and the shared
pace of a fan-out.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.procs import child_pids, cpu_seconds  # noqa: E402
from tests.support import (AgentProcess, Gateway, RedisServer, WebClient, free_port, rfb_open,  # noqa: E402
                           start_xvnc, wait_for)

WIDTH, HEIGHT = 800, 600


class Viewer(threading.Thread):
    def __init__(self, client: WebClient, ticket: str):
        super().__init__(daemon=True)
        self.ws = client.view_socket(ticket)
        self.ws.settimeout(30)
        rfb_open(self.ws)
        self.ws.write_message(struct.pack(">BxHi", 2, 1, 0))  # SetEncodings: Raw
        self.ws.write_message(struct.pack(">BBHHHH", 3, 0, 0, 0, WIDTH, HEIGHT))
        self.received = 0
        self.stop = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        # Counts bytes only; one request per ~full-screen of bytes keeps the viewer self-paced.
        owed = 0
        try:
            while not self.stop.is_set():
                data = self.ws.read_message()
                if data is None:
                    return
                self.received += len(data)
                owed += len(data)
                if owed >= WIDTH * HEIGHT * 4:
                    owed = 0
                    self.ws.write_message(struct.pack(">BBHHHH", 3, 1, 0, 0, WIDTH, HEIGHT))
        except Exception as exc:  # reported: a viewer that died is a finding
            if not self.stop.is_set():  # not the socket we closed under it
                self.error = exc


def tree_cpu(pid: int) -> float:
    return cpu_seconds(pid) + sum(cpu_seconds(c) for c in child_pids(pid))


def measure(gw: Gateway, agent: AgentProcess, xvnc_pid: int, viewers: int, seconds: float) -> dict:
    clients = [WebClient(gw.url, "emp", "emppass12") for _ in range(viewers)]
    running = [Viewer(c, c.open_session("office-pc")["ticket"]) for c in clients]
    for v in running:
        v.start()
    time.sleep(1.0)  # warm-up
    start = [v.received for v in running]
    g0, a0, x0, t0 = tree_cpu(gw.proc.pid), tree_cpu(agent.proc.pid), cpu_seconds(xvnc_pid), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    g1, a1, x1 = tree_cpu(gw.proc.pid), tree_cpu(agent.proc.pid), cpu_seconds(xvnc_pid)
    per_viewer = [(v.received - s) / elapsed for v, s in zip(running, start)]
    for v in running:
        if v.error:
            raise RuntimeError(f"a viewer failed: {v.error!r}")
        v.stop.set()
        v.ws.close_with(1000, "done")
        v.join(10)
    return {"viewers": viewers, "MB_s_each": [round(b / 1e6, 2) for b in per_viewer],
            "gateway_cpu": round((g1 - g0) / elapsed, 3), "agent_cpu": round((a1 - a0) / elapsed, 3),
            "xvnc_cpu": round((x1 - x0) / elapsed, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="ponte-shadow-"))
    started = []
    try:
        redis = RedisServer.start(base / "redis")
        started.append(redis)
        vnc = start_xvnc(base / "xvnc", geometry=f"{WIDTH}x{HEIGHT}")
        started.append(vnc)
        gw = Gateway(base / "gateway", free_port(), redis.url,
                     extra_env={"PONTE_LOGIN_LIMIT": "1000 per minute"}).start()
        started.append(gw)
        gw.add_user("emp", "emppass12")
        code = gw.add_machine("office-pc")
        gw.cli("grant", "emp", "office-pc")
        agent = AgentProcess(base / "agent", gw.url, vnc)
        agent.enroll(code)
        agent.start()
        started.append(agent)
        wait_for(lambda: gw.machine_state("office-pc") == "online", timeout=30, interval=0.3, what="agent online")
        stop = threading.Event()

        def animate():
            i = 0
            while not stop.is_set():
                vnc.x("xsetroot", "-solid", ("#3366cc", "#c0392b")[i % 2], check=False)
                i += 1
                time.sleep(0.05)
        threading.Thread(target=animate, daemon=True).start()
        # CPU in cores (1.0: one core busy the whole time).
        print(f"{'viewers':>8} {'MB/s each':>18} {'gateway CPU':>12} {'agent CPU':>10} {'Xvnc CPU':>9}")
        for n in (1, 2):
            row = measure(gw, agent, vnc.procs[0].pid, n, args.seconds)
            print(f"{row['viewers']:>8} {str(row['MB_s_each']):>18} {row['gateway_cpu']:>12} {row['agent_cpu']:>10}"
                  f" {row['xvnc_cpu']:>9}")
        stop.set()
    finally:
        for proc in reversed(started):
            proc.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
