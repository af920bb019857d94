"""``python -m bench office [--quick] [--sessions N] [--json FILE]``: the load an office really makes (issue 16).

``N`` concurrent sessions (default 1,000), each receiving bursty screen updates
(``bench.officetarget``: 250 KB/s on average, in 100 KB bursts) and sending a
keystroke every 200 ms, whose echo comes back from the VNC server behind the
screen bytes. The same load goes over the three paths of ``python -m bench``,
one after the other, with the same client: (a) raw TCP to the VNC server, (b)
websockify (one forked process per connection), (c) Ponte (gateway and
``--agents`` agent processes, sessions opened the way a browser opens them).

Reported per path: keystroke echo p50/p99 over a ``seconds`` window, errors
(sessions that failed to open or closed, keystrokes whose echo never came),
screen bytes delivered, the relay's memory — Ponte's gateway RSS; websockify's
summed over its processes, both as RSS (what ``ps`` shows) and PSS (shared
pages split between the processes that share them: the memory it really takes)
— and the relay's CPU seconds in the window.

Everything runs on this one machine: the client, the VNC server, the agents and
the relays share its cores, which the figures say nothing against the network.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import selectors
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import measure  # noqa: E402
from bench.client import READ_SIZE, ClientError, Conn, ws_frame  # noqa: E402
from bench.officetarget import BURST_BYTES, ECHO, KEY_SIZE, SCREEN  # noqa: E402
from bench.procs import PYTHON, Procs, child_pids, raise_nofile, rss_bytes, tree_cpu  # noqa: E402

KEY_INTERVAL = 0.2
FULL = dict(sessions=1000, seconds=20.0, warmup=3.0, agents=4)
QUICK = dict(sessions=20, seconds=2.0, warmup=0.5, agents=1)
GRACE = 2.0  # seconds after the window for the last echoes


def log(msg: str) -> None:
    print(f"[bench office {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class OfficeReader:
    """Splits the office target's messages (see ``bench.officetarget``): counts screen bytes, keeps echoes."""

    def __init__(self):
        self.head = bytearray()
        self.kind = SCREEN
        self.left = 0
        self.echo = bytearray()
        self.screen = 0
        self.echoes: list[int] = []

    def feed(self, chunk) -> None:
        pos, n = 0, len(chunk)
        while pos < n:
            if self.left:
                take = min(self.left, n - pos)
                if self.kind == ECHO:
                    self.echo += chunk[pos:pos + take]
                else:
                    self.screen += take
                self.left -= take
                pos += take
                if not self.left and self.kind == ECHO:
                    self.echoes.append(struct.unpack(">Q", self.echo)[0])
                    self.echo.clear()
                continue
            take = min(5 - len(self.head), n - pos)
            self.head += chunk[pos:pos + take]
            pos += take
            if len(self.head) == 5:
                self.kind, self.left = struct.unpack(">BI", self.head)
                self.head.clear()
                if self.kind not in (SCREEN, ECHO) or self.left > BURST_BYTES or \
                        (self.kind == ECHO and self.left != KEY_SIZE):
                    raise ClientError(f"not an office message: type {self.kind}, {self.left} bytes")


class OfficeConn(Conn):
    """A ``Conn`` whose payload goes through an ``OfficeReader`` instead of a buffer."""

    reader: OfficeReader

    def _data(self, chunk) -> None:
        if self.collect:
            super()._data(chunk)
        else:
            self.reader.feed(chunk)


def office_mode(conn: Conn) -> OfficeConn:
    """Switch an opened connection (RFB handshake done) to the office load."""
    conn.__class__ = OfficeConn
    conn.reader = OfficeReader()
    conn.collect = False
    if conn.payload:  # nothing comes before our "O", but never drop bytes
        conn.reader.feed(memoryview(bytes(conn.payload)))
        conn.payload.clear()
    conn.send(b"O")
    return conn


def run_load(conns: list[OfficeConn], warmup: float, seconds: float, pids: dict) -> dict:
    """Keystrokes every 200 ms on every connection; echoes timed during the window."""
    sel = selectors.DefaultSelector()
    for i, conn in enumerate(conns):
        conn.sock.setblocking(False)
        sel.register(conn.sock, selectors.EVENT_READ, i)
    buf = bytearray(READ_SIZE)
    start = time.perf_counter()
    window = (start + warmup, start + warmup + seconds)
    stop_sending, stop = window[1], window[1] + GRACE
    due = [(start + KEY_INTERVAL * i / max(1, len(conns)), i) for i in range(len(conns))]
    heapq.heapify(due)
    sent_at: list[dict] = [{} for _ in conns]
    seq = [0] * len(conns)
    rtts: list[float] = []
    closed: set[int] = set()
    unsent = 0
    screen_before: list[int] | None = None
    cpu_before: dict | None = None
    screen_window, measured = 0, False
    cpu: dict = {}
    memory: dict = {}
    while True:
        now = time.perf_counter()
        if now >= stop:
            break
        if cpu_before is None and now >= window[0]:
            cpu_before = {name: tree_cpu(pid) for name, pid in pids.items()}
            screen_before = [c.reader.screen for c in conns]
        if screen_before is not None and not measured and now >= window[1]:
            measured = True
            screen_window = sum(c.reader.screen - b for c, b in zip(conns, screen_before))
            cpu = {name: tree_cpu(pid) - cpu_before[name] for name, pid in pids.items()}
            memory = memory_of(pids)
        timeout = max(0.0, min(due[0][0] if due and now < stop_sending else stop, stop) - now)
        for key, _ in sel.select(timeout):
            i = key.data
            conn = conns[i]
            try:
                got = conn.recv_some(buf)
            except ClientError as exc:
                log(f"session {i}: {exc}")
                got = -1
            arrived = time.perf_counter()
            for n in conn.reader.echoes:
                sent = sent_at[i].pop(n, None)
                if sent is not None and window[0] <= sent < window[1]:
                    rtts.append(arrived - sent)
            conn.reader.echoes.clear()
            if got < 0:
                sel.unregister(conn.sock)
                closed.add(i)
        now = time.perf_counter()
        while due and due[0][0] <= now and now < stop_sending:
            at, i = heapq.heappop(due)
            if i in closed:
                continue
            seq[i] += 1
            try:
                data = struct.pack(">Q", seq[i])
                frame = ws_frame(data) if conns[i].ws else data
                if conns[i].sock.send(frame) != len(frame):
                    unsent += 1  # a relay that does not read 14 bytes of input is failing its viewer
            except BlockingIOError:
                unsent += 1
            except OSError:
                closed.add(i)
                continue
            sent_at[i][seq[i]] = time.perf_counter()
            heapq.heappush(due, (at + KEY_INTERVAL, i))
    missing = sum(1 for i, pending in enumerate(sent_at) if i not in closed
                  for t in pending.values() if window[0] <= t < window[1])
    sel.close()
    return {"rtts": rtts, "closed": len(closed), "unsent": unsent, "missing_echoes": missing,
            "screen_mbps": screen_window / seconds / 1e6, "cpu_seconds": cpu, "memory": memory}


def pss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_of(pids: dict) -> dict:
    """RSS and PSS of each relay process and its live children (websockify's forks), summed."""
    out = {}
    for name, pid in pids.items():
        rss = pss = 0
        for p in [pid, *child_pids(pid)]:
            try:
                rss += rss_bytes(p)
                pss += pss_bytes(p)
            except OSError:
                pass
        out[name] = {"rss": rss, "pss": pss}
    return out


def start_office_target(procs: Procs) -> int:
    """``bench.officetarget`` on a free port of 127.0.0.1; its port once it listens."""
    from tests.support import free_port, wait_for

    port = free_port()
    procs.spawn("officetarget", [PYTHON, "-m", "bench.officetarget", "--port", str(port)])
    wait_for(lambda: b"listening" in _read(procs.logdir / "officetarget.log"), timeout=15, what="office target")
    return port


def measure_path(path, plan: dict) -> dict:
    n = plan["sessions"]
    log(f"{path.name}: opening {n} sessions")
    t0 = time.perf_counter()
    conns, failures = measure.open_many(path, n, workers=32)
    opened_in = time.perf_counter() - t0
    try:
        office = [office_mode(c) for c in conns]
        log(f"{path.name}: {len(office)} open in {opened_in:.1f} s; office load for {plan['warmup']} + "
            f"{plan['seconds']} s")
        result = run_load(office, plan["warmup"], plan["seconds"], path.relay_pids())
    finally:
        measure.close_all(conns)
    result["open_failures"] = failures
    result["opened_seconds"] = opened_in
    result["errors"] = failures + result["closed"] + result["unsent"] + result["missing_echoes"]
    return result


def main(argv: list[str]) -> int:
    from bench.stacks import PontePath, RawPath, WebsockifyPath, stop_ponte

    parser = argparse.ArgumentParser(prog="python -m bench office", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK['sessions']} sessions for a short while (CI)")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--agents", type=int, help="agent processes serving the Ponte sessions")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.sessions:
        plan["sessions"] = args.sessions
    if args.agents:
        plan["agents"] = args.agents
    nofile = raise_nofile(8 * plan["sessions"] + 4096)
    workdir = Path(tempfile.mkdtemp(prefix="ponte-office-"))
    procs = Procs(workdir / "logs")
    started, load_start = time.monotonic(), os.getloadavg()
    results: dict = {}
    try:
        port = start_office_target(procs)
        results["raw"] = measure_path(RawPath(port), plan)
        ws = WebsockifyPath(procs, port)
        results["websockify"] = measure_path(ws, plan)
        procs.stop(ws.proc)
        # Every agent stream of this bench comes from 127.0.0.1: lift the per-address cap
        # (an office behind one NAT is the same case; see the README's deploy notes).
        ponte = PontePath(procs, workdir / "ponte", port, agents=plan["agents"], users=plan["sessions"] // 25 + 2,
                          env={"PONTE_MAX_CONNECTIONS_PER_IP": str(4 * plan["sessions"] + 256)})
        results["ponte"] = measure_path(ponte, plan)
        stop_ponte(procs, ponte)
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = round(time.monotonic() - started, 1)
    table, figures = report(results, plan)
    print(table)
    print(f"\npython -m bench office{' --quick' if args.quick else ''}: {plan['sessions']} sessions, {seconds} s on "
          f"{os.cpu_count()} CPUs (client, VNC server, agents and relays share them); load average "
          f"{load_start[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end; RLIMIT_NOFILE {nofile}.")
    if args.json:
        raw = {name: {k: v for k, v in r.items() if k != "rtts"} for name, r in results.items()}
        Path(args.json).write_text(json.dumps({"plan": plan, "figures": figures, "paths": raw, "seconds": seconds,
                                               "loadavg_start": load_start}, indent=2))
    return 0


def report(results: dict, plan: dict) -> tuple[str, dict]:
    figures: dict = {}
    for name, r in results.items():
        mem = r["memory"]
        relay = {k: v for k, v in mem.items() if k == "gateway" or k == "websockify"}
        figures[name] = {
            "echo_p50_ms": measure.pct(r["rtts"], 50) * 1e3, "echo_p99_ms": measure.pct(r["rtts"], 99) * 1e3,
            "echoes": len(r["rtts"]), "errors": r["errors"], "screen_mbps": r["screen_mbps"],
            "relay_rss_mb": sum(m["rss"] for m in relay.values()) / 1e6 if relay else None,
            "relay_pss_mb": sum(m["pss"] for m in relay.values()) / 1e6 if relay else None,
            "agents_rss_mb": sum(m["rss"] for k, m in mem.items() if k.startswith("agent:")) / 1e6,
            "relay_cpu_s": sum(c for k, c in r["cpu_seconds"].items() if k in ("gateway", "websockify")),
            "agents_cpu_s": sum(c for k, c in r["cpu_seconds"].items() if k.startswith("agent:")),
        }
    a, b, c = figures["raw"], figures["websockify"], figures["ponte"]

    def cell(v, fmt="{:.1f}"):
        return "–" if v is None else fmt.format(v)

    def ratio(x, y):
        return "–" if x is None or not y else f"{x / y:.2f}×"

    rows = [("keystroke echo p50", "ms", "echo_p50_ms"), ("keystroke echo p99", "ms", "echo_p99_ms"),
            ("errors", "", "errors"), ("screen delivered", "MB/s", "screen_mbps"),
            ("relay memory, RSS summed", "MB", "relay_rss_mb"), ("relay memory, PSS summed", "MB", "relay_pss_mb"),
            (f"relay CPU in {plan['seconds']:g} s", "s", "relay_cpu_s")]
    lines = [f"| {plan['sessions']} office sessions | unit | (a) raw | (b) websockify | (c) Ponte | c/b | c/a |",
             "|---|---|---|---|---|---|---|"]
    for label, unit, key in rows:
        fmt = "{:d}" if key == "errors" else "{:.1f}"
        lines.append(f"| {label} | {unit} | {cell(a[key], fmt)} | {cell(b[key], fmt)} | {cell(c[key], fmt)} | "
                     f"{ratio(c[key], b[key])} | {ratio(c[key], a[key])} |")
    lines.append(f"| Ponte agents ({plan['agents']} processes): RSS, CPU | MB, s | – | – | "
                 f"{c['agents_rss_mb']:.1f}, {c['agents_cpu_s']:.1f} | – | – |")
    return "\n".join(lines), figures


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
