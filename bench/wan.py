"""``python -m bench wan [--quick] [--json FILE]``: the three paths over an emulated WAN (issue 16).

The bench builds three network namespaces and removes them when it ends::

    viewer 10.214.1.2 ──link── 10.214.1.1  gateway  10.214.2.1 ──link── 10.214.2.2 office

Each link is emulated packet by packet (``bench.linkemu``, netem's model in user
space, since this kernel lacks netem; ``LINK_ARGS``: 20 ms each way, so 40 ms
round trip; 20 Mbit/s; 0.1 % loss each way), as a viewer at home and an office
PC each behind their own internet line. The gateway namespace runs
Redis, the Ponte gateway and websockify, and routes between its two links, so a
direct VNC connection from the viewer to the office PC crosses the same two
links as the relayed ones. The office runs the synthetic VNC server
(``bench.rfbtarget``, 1920×1080, 32 bpp Raw) and the Ponte agent. The measuring
client runs in the viewer namespace (``python -m bench.wan client``, started
with ``ip netns exec``) and prints its figures as JSON.

Paths, all ending at the same VNC server: (a) direct VNC over TCP, (b)
websockify in the gateway namespace, (c) Ponte: viewer → gateway ← agent →
VNC server on the office PC's loopback.

Figures per path (medians over ``--rounds`` connections):

* connect (Ponte: ticket in hand) → first FramebufferUpdate byte;
* connect (Ponte: ticket in hand) → first full screen: one whole 1920×1080
  update (8.3 MB Raw: the same bytes on every path, bandwidth-bound at 20 Mbit/s);
* full-screen update: request sent → its last byte;
* keystroke echo: an 8-byte message (a KeyEvent's size) echoed by the VNC
  server, p50 and p99.

Root only (``ip netns``, TUN devices); nothing leaves the namespaces the bench made.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import measure  # noqa: E402
from bench.procs import PYTHON, Procs  # noqa: E402

#: Each way of both links (``bench.linkemu``): a link's round trip is twice the delay.
LINK_ARGS = ("--delay-ms", "20", "--rate-mbit", "20", "--loss", "0.001")
LINK_TEXT = "40 ms RTT, 20 Mbit/s, 0.1 % loss on each link"
VIEWER_IP, GW_VIEWER_IP, GW_OFFICE_IP, OFFICE_IP = "10.214.1.2", "10.214.1.1", "10.214.2.1", "10.214.2.2"
TARGET_PORT, GATEWAY_PORT, WEBSOCKIFY_PORT, REDIS_PORT = 5900, 8080, 6080, 6390
PASSWORD = "bench-password-1"
KEY = b"\x04\x01\x00\x00\x00\x00\x00\x61"  # a KeyEvent's 8 bytes (RFC 6143 §7.5.4); the target echoes it
FULL = dict(rounds=3, echoes=200, width=1920, height=1080)
QUICK = dict(rounds=1, echoes=20, width=320, height=240)


def log(msg: str) -> None:
    print(f"[bench wan {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=check)


class Wan:
    """The three namespaces and the two emulated links between them; ``close()`` removes them.

    Each link is a TUN device at each end joined by ``bench.linkemu`` (netem's
    job in user space: this kernel has no ``sch_netem``).
    """

    def __init__(self, procs: Procs):
        tag = f"pwan{os.getpid() % 100000}"
        self.procs = procs
        self.viewer, self.gateway, self.office = f"{tag}v", f"{tag}g", f"{tag}o"
        self.made: list[str] = []

    def build(self) -> Wan:
        from tests.support import wait_for

        for ns in (self.viewer, self.gateway, self.office):
            _run("ip", "netns", "add", ns)
            self.made.append(ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        ends = ((self.viewer, "tun0", VIEWER_IP, self.gateway, "tv", GW_VIEWER_IP),
                (self.office, "tun0", OFFICE_IP, self.gateway, "to", GW_OFFICE_IP))
        for far_ns, far_dev, far_ip, near_ns, near_dev, near_ip in ends:
            for ns, dev, ip, peer in ((far_ns, far_dev, far_ip, near_ip), (near_ns, near_dev, near_ip, far_ip)):
                _run("ip", "-n", ns, "tuntap", "add", "dev", dev, "mode", "tun")
                _run("ip", "-n", ns, "addr", "add", ip, "peer", peer, "dev", dev)
                _run("ip", "-n", ns, "link", "set", dev, "up")
            _run("ip", "-n", far_ns, "route", "add", "default", "dev", far_dev)
        # Per namespace: the machine's own forwarding setting is not touched.
        _run("ip", "netns", "exec", self.gateway, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        pairs = [a for far_ns, far_dev, _, near_ns, near_dev, _ in ends
                 for a in ("--pair", f"{far_ns}:{far_dev}={near_ns}:{near_dev}")]
        self.emulator = self.procs.spawn("linkemu", [PYTHON, "-m", "bench.linkemu", *pairs, *LINK_ARGS])
        log = self.procs.logdir / "linkemu.log"
        wait_for(lambda: b"forwarding" in _read(log) or self.emulator.poll() is not None, timeout=15,
                 what="link emulator")
        if self.emulator.poll() is not None:
            raise RuntimeError(f"the link emulator exited: {_read(log)[-2000:].decode(errors='replace')}")
        return self

    def close(self) -> None:
        for ns in reversed(self.made):
            _run("ip", "netns", "del", ns, check=False)
        self.made.clear()

    @staticmethod
    def exec_in(ns: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]


def available() -> str | None:
    """Why the WAN bench cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing"
    for tool in ("ip",):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if _run("ip", "netns", "list", check=False).returncode != 0:
        return "ip netns is not available"
    routes = _run("ip", "-j", "route", check=False).stdout
    if "10.214.1." in routes or "10.214.2." in routes:
        return "10.214.1.0/24 or 10.214.2.0/24 is in use on this machine"
    return None


def start(procs: Procs, wan: Wan, workdir: Path) -> dict:
    """Redis, gateway and websockify in the gateway namespace; VNC server and agent in the office."""
    from tests.support import redis_binary, wait_for

    logs = procs.logdir
    procs.spawn("rfbtarget", wan.exec_in(wan.office, [PYTHON, "-m", "bench.rfbtarget", "--host", "0.0.0.0",
                                                       "--port", str(TARGET_PORT)]))
    wait_for(lambda: b"listening" in _read(logs / "rfbtarget.log"), timeout=15, what="rfbtarget")
    procs.spawn("redis", wan.exec_in(wan.gateway, [redis_binary(), "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                                                   "--save", "", "--appendonly", "no", "--dir", str(workdir)]))
    cli = wan.exec_in(wan.gateway, [shutil.which("redis-cli") or "redis-cli", "-p", str(REDIS_PORT)])
    wait_for(lambda: _run(*cli, "ping", check=False).stdout.strip() == "PONG", timeout=15, what="redis")
    instance = workdir / "gateway"
    instance.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
    env.update({"PONTE_INSTANCE_PATH": str(instance), "PONTE_PORT": str(GATEWAY_PORT), "PONTE_BIND": "0.0.0.0",
                "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0", "PONTE_REDIS_PREFIX": "bench:",
                "PONTE_ALLOWED_HOSTS": f"{GW_VIEWER_IP},{GW_OFFICE_IP}", "PONTE_LOG_LEVEL": "WARNING",
                "PONTE_WORKERS": "1",  # one session at a time: the link is measured, not the cores
                "PYTHONPATH": str(ROOT)})
    out = subprocess.run(wan.exec_in(wan.gateway, [
        PYTHON, "-m", "bench.provision", "--users", "1", "--password", PASSWORD, "--machines", "1",
        "--credential-dir", str(workdir / "credentials"), "--gateway-url", f"http://{GW_OFFICE_IP}:{GATEWAY_PORT}"]),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"provisioning failed: {out.stderr[-2000:]}")
    provisioned = json.loads(out.stdout.strip().splitlines()[-1])
    gateway = procs.spawn("gateway", wan.exec_in(wan.gateway, [PYTHON, "-m", "gateway", "serve"]), env=env)
    wait_for(lambda: _alive(gateway) and b"listening on" in _read(logs / "gateway.log"), timeout=30,
             what="gateway listening")
    procs.spawn("websockify", wan.exec_in(wan.gateway, [
        str(Path(PYTHON).parent / "websockify"), f"0.0.0.0:{WEBSOCKIFY_PORT}", f"{OFFICE_IP}:{TARGET_PORT}"]))
    machine = provisioned["machines"][0]
    agent_env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
    agent_env.update({"PYTHONPATH": str(ROOT), "PONTE_LOG_LEVEL": "WARNING"})
    procs.spawn("agent", wan.exec_in(wan.office, [
        PYTHON, "-m", "agents", "run", "--credential-file", machine["credential_file"], "--insecure-dev",
        "--vnc-host", "127.0.0.1", "--vnc-port", str(TARGET_PORT)]), env=agent_env)
    wait_for(lambda: _run(*cli, "exists", f"bench:agent:{machine['id']}", check=False).stdout.strip() == "1",
             timeout=60, interval=0.2, what="agent online over the WAN")
    return {"user": provisioned["users"][0], "machine": machine["name"]}


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def _alive(proc) -> bool:
    if proc.poll() is not None:
        raise RuntimeError("gateway exited early (see its log)")
    return True


# -- the client, run in the viewer namespace --

def client_main(argv: list[str]) -> int:
    from bench.client import Conn, rfb_handshake, tcp_connect, update_request, ws_connect
    from bench.stacks import Viewer

    parser = argparse.ArgumentParser(prog="python -m bench.wan client")
    parser.add_argument("--spec", required=True)
    spec = json.loads(parser.parse_args(argv).spec)
    w, h = spec["width"], spec["height"]
    screen = 16 + w * h * 4  # FramebufferUpdate header + one Raw rectangle (RFC 6143 §7.6.1, §7.7.1)
    viewer = None

    def opener(name: str):
        nonlocal viewer
        if name == "raw":
            return lambda: (time.perf_counter(), Conn(tcp_connect(OFFICE_IP, TARGET_PORT, timeout=60), False))
        if name == "websockify":
            return lambda: (time.perf_counter(), ws_connect(GW_VIEWER_IP, WEBSOCKIFY_PORT, "/", timeout=60))
        viewer = Viewer(f"http://{GW_VIEWER_IP}:{GATEWAY_PORT}", spec["user"], PASSWORD, VIEWER_IP)
        viewer.login()

        def ponte():
            issued = viewer.open_session(spec["machine"])
            t0 = time.perf_counter()  # the ticket is in hand: what a page has when it opens the socket
            return t0, viewer.open_ws(issued)
        return ponte

    results = {}
    for name in ("raw", "websockify", "ponte"):
        open_conn = opener(name)
        first, full, update = [], [], []
        for _ in range(spec["rounds"]):
            t0, conn = open_conn()
            try:
                rfb_handshake(conn, timeout=60)
                t_req = time.perf_counter()
                conn.send(update_request(w, h))
                conn.recv_exact(1, time.monotonic() + 60)
                t_first = time.perf_counter()
                conn.recv_exact(screen - 1, time.monotonic() + 300)
                t_done = time.perf_counter()
            finally:
                conn.close()
            first.append(t_first - t0)
            full.append(t_done - t0)
            update.append(t_done - t_req)
        t0, conn = open_conn()
        echoes = []
        try:
            rfb_handshake(conn, timeout=60)
            conn.send(b"E")  # bench.rfbtarget: echo from here on
            for i in range(spec["echoes"] + 5):
                t = time.perf_counter()
                conn.send(KEY)
                conn.recv_exact(len(KEY), time.monotonic() + 30)
                if i >= 5:  # the first few warm the TCP windows
                    echoes.append(time.perf_counter() - t)
        finally:
            conn.close()
        results[name] = {"first_byte_s": first, "first_screen_s": full, "update_s": update, "echo_s": echoes}
    print(json.dumps(results))
    return 0


# -- the bench --

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench wan", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of a 320×240 update (CI smoke)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--rounds", type=int, help="connections per path (default 3; --quick 1)")
    args = parser.parse_args(argv)
    why = available()
    if why:
        print(f"python -m bench wan: cannot run here: {why}", file=sys.stderr)
        return 2
    plan = dict(QUICK if args.quick else FULL)
    if args.rounds:
        plan["rounds"] = args.rounds
    workdir = Path(tempfile.mkdtemp(prefix="ponte-wan-"))
    procs = Procs(workdir / "logs")
    wan = Wan(procs)
    started, load_start = time.monotonic(), os.getloadavg()
    try:
        log(f"building the WAN ({LINK_TEXT})")
        wan.build()
        log("starting VNC server and agent (office), Redis, gateway and websockify (gateway)")
        who = start(procs, wan, workdir)
        log(f"measuring from the viewer's namespace ({plan['rounds']} rounds per path)")
        out = subprocess.run(wan.exec_in(wan.viewer, [PYTHON, "-m", "bench.wan", "client",
                                                      "--spec", json.dumps({**plan, **who})]),
                             cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"the client failed: {out.stderr[-3000:]}")
        raw = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        procs.stop_all()  # the emulator too: then the namespaces can go
        wan.close()
        shutil.rmtree(workdir, ignore_errors=True)
    table, figures = report(raw, plan)
    seconds = round(time.monotonic() - started, 1)
    print(table)
    print(f"\npython -m bench wan{' --quick' if args.quick else ''}: {seconds} s on {os.cpu_count()} CPUs; "
          f"{LINK_TEXT}; load average {load_start[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end.")
    if args.json:
        Path(args.json).write_text(json.dumps({"plan": plan, "link": LINK_TEXT, "figures": figures, "raw": raw,
                                               "seconds": seconds, "loadavg_start": load_start}, indent=2))
    return 0


def report(raw: dict, plan: dict) -> tuple[str, dict]:
    """The table (ms, and Ponte as a ratio of websockify and of direct VNC) and its figures."""
    rows = [("connect → first update byte", "first_byte_s", 50),
            (f"connect → first full screen ({plan['width']}×{plan['height']})", "first_screen_s", 50),
            ("full-screen update: request → last byte", "update_s", 50),
            ("keystroke echo p50", "echo_s", 50), ("keystroke echo p99", "echo_s", 99)]
    figures: dict = {}
    lines = ["| figure (median; Ponte from ticket in hand) | (a) direct VNC ms | (b) websockify ms | (c) Ponte ms "
             "| c/b | c/a | c − a ms |", "|---|---|---|---|---|---|---|"]
    for label, key, pct in rows:
        values = {name: (measure.median(raw[name][key]) if pct == 50 else measure.pct(raw[name][key], pct)) * 1e3
                  for name in ("raw", "websockify", "ponte")}
        figures[f"{key}_p{pct}"] = values
        a, b, c = values["raw"], values["websockify"], values["ponte"]
        lines.append(f"| {label} | {a:.1f} | {b:.1f} | {c:.1f} | {c / b:.2f}× | {c / a:.2f}× | {c - a:+.1f} |")
    return "\n".join(lines), figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        sys.exit(client_main(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
