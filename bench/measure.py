"""The measurements. Each takes a path (``stacks``) and returns plain numbers.

Saturating streams are drained by a forked child process (``drain``) so the
64-byte round trips measured meanwhile in this process never wait for the
drainer's GIL; the child reports when its window starts and ends, and CPU
and RSS are sampled at those moments.
"""

from __future__ import annotations

import json
import os
import selectors
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .client import READ_SIZE, Conn, update_request
from .procs import tree_cpu, tree_rss

PING = bytes(range(64))
#: Sessions opened and closed before the live-session RSS is measured (enough to reach every worker).
WARM_SESSIONS = 8
PING_INTERVAL = 0.002


@dataclass
class Window:
    seconds: float = 0.0
    per_stream: list = field(default_factory=list)
    errors: int = 0
    cpu: dict = field(default_factory=dict)
    rss: dict = field(default_factory=dict)
    rss_before: dict = field(default_factory=dict)
    rtts: list = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.per_stream)

    @property
    def mbps(self) -> float:
        return self.total / self.seconds / 1e6 if self.seconds else 0.0


def start_streams(conns: list[Conn], w: int, h: int) -> None:
    for conn in conns:
        conn.send(update_request(w, h))
        conn.start_counting()


def drain(conns: list[Conn], warmup: float, seconds: float, *, pids: dict | None = None,
          probe: Conn | None = None, rate: float | None = None) -> Window:
    """Drain ``conns`` in a child for ``warmup`` + ``seconds``; meanwhile ping ``probe``.

    ``rate`` (bytes/s, all ``conns`` together): read no faster, as a viewer on a slower link
    would; TCP's flow control then paces the relays and the server behind them."""
    pids = pids or {}
    rfd, wfd = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(rfd)
            _drain_child(conns, warmup, seconds, wfd, rate)
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    result = Window()
    reader = os.fdopen(rfd, "r")
    try:
        if reader.readline().strip() != "start":
            raise RuntimeError("drainer failed before its window")
        cpu0 = {name: tree_cpu(pid) for name, pid in pids.items()}
        result.rss = {name: tree_rss(pid) for name, pid in pids.items()}
        if probe is not None:
            sel = selectors.DefaultSelector()
            sel.register(reader, selectors.EVENT_READ)
            while not sel.select(PING_INTERVAL):
                t0 = time.perf_counter()
                probe.send(PING)
                probe.recv_exact(len(PING), time.monotonic() + 30)
                result.rtts.append(time.perf_counter() - t0)
            sel.close()
        for name, pid in pids.items():  # RSS while loaded, the larger of the two samples
            result.rss[name] = max(result.rss[name], tree_rss(pid))
        line = reader.readline()
        cpu1 = {name: tree_cpu(pid) for name, pid in pids.items()}
    finally:
        reader.close()
        os.waitpid(child, 0)
    report = json.loads(line)
    result.seconds = report["seconds"]
    result.per_stream = report["bytes"]
    result.errors = report["errors"]
    result.cpu = {name: cpu1[name] - cpu0[name] for name in pids}
    return result


def _drain_child(conns: list[Conn], warmup: float, seconds: float, wfd: int, rate: float | None = None) -> None:
    sel = selectors.DefaultSelector()
    for conn in conns:
        conn.sock.setblocking(False)
        sel.register(conn.sock, selectors.EVENT_READ, conn)
    buf = bytearray(READ_SIZE)
    closed = set()
    began, base = time.perf_counter(), sum(c.counted for c in conns)

    def pump(until: float) -> None:
        while True:
            now = time.perf_counter()
            left = until - now
            if left <= 0:
                return
            if rate is not None:
                ahead = (sum(c.counted for c in conns) - base - rate * (now - began)) / rate
                if ahead > 0:  # read more than the rate allows so far: wait
                    time.sleep(min(ahead, left))
                    continue
            for key, _ in sel.select(left):
                conn = key.data
                if conn.recv_some(buf) < 0:
                    sel.unregister(conn.sock)
                    closed.add(id(conn))

    pump(time.perf_counter() + warmup)
    before = [c.counted for c in conns]
    os.write(wfd, b"start\n")
    t0 = time.perf_counter()
    pump(t0 + seconds)
    elapsed = time.perf_counter() - t0
    counts = [c.counted - b for c, b in zip(conns, before)]
    errors = len(closed) + sum(1 for n in counts if n == 0)
    os.write(wfd, (json.dumps({"seconds": elapsed, "bytes": counts, "errors": errors}) + "\n").encode())


def open_many(path, n: int, workers: int = 16) -> tuple[list[Conn], int]:
    """Open ``n`` RFB connections in parallel; returns (connections, failures)."""
    conns, failures = [], 0
    with ThreadPoolExecutor(max_workers=min(workers, n)) as pool:
        futures = [pool.submit(path.open) for _ in range(n)]
        for future in futures:
            try:
                conns.append(future.result())
            except Exception as exc:
                failures += 1
                print(f"bench: {path.name}: open failed: {exc!r}", flush=True)
    return conns, failures


def close_all(conns: list[Conn]) -> None:
    for conn in conns:
        conn.close()


def echo_conn(path) -> Conn:
    conn = path.open()
    conn.send(b"E")
    return conn


def rtt_idle(path, count: int, warmup: int = 50) -> list[float]:
    conn = echo_conn(path)
    try:
        out = []
        for i in range(warmup + count):
            t0 = time.perf_counter()
            conn.send(PING)
            conn.recv_exact(len(PING), time.monotonic() + 30)
            if i >= warmup:
                out.append(time.perf_counter() - t0)
        return out
    finally:
        conn.close()


def throughput(path, seconds: float, warmup: float, w: int, h: int, rate: float | None = None) -> Window:
    conn = path.open()
    try:
        start_streams([conn], w, h)
        return drain([conn], warmup, seconds, pids=path.relay_pids(), rate=rate)
    finally:
        conn.close()


def loaded(path, streams: int, seconds: float, warmup: float, w: int, h: int,
           rate: float | None = None) -> Window:
    """``streams`` saturating streams (or all together at ``rate``), plus a 64-byte echo probe on its own session."""
    pids = path.relay_pids()
    rss_before = {name: tree_rss(pid) for name, pid in pids.items()}
    probe = echo_conn(path)
    conns, failures = open_many(path, streams)
    try:
        start_streams(conns, w, h)
        window = drain(conns, warmup, seconds, pids=pids, probe=probe, rate=rate)
        window.errors += failures
        window.rss_before = rss_before
        return window
    finally:
        close_all(conns)
        probe.close()


def live_session_rss(path, n: int, settle: float = 1.0) -> float:
    """Gateway RSS added per live (idle, echo-mode) session, bytes.

    A few sessions come and go first: each worker's first login and session
    load code and grow the heap once (argon2's memory), which is no session's.
    Half of them are opened by people who log in while the others are live:
    their portal page names who is on the PC ("In use by … since 9:12"), and
    the first time a worker formats that time it loads the locale's data
    (babel, ~4 MB, once a process) — no session's either, but without them
    it fell among the 100 measured ones.
    """
    pid = path.gateway_pid
    warm, _failures = open_many(path, WARM_SESSIONS // 2)
    _echo(warm)
    for _ in range(WARM_SESSIONS - WARM_SESSIONS // 2):
        path.retire_viewer()
        warm.append(path.open())
        _echo(warm[-1:])
    close_all(warm)
    time.sleep(settle)
    before = tree_rss(pid)
    conns, _failures = open_many(path, n)
    try:
        for conn in conns:  # one round trip each: the relay is running
            conn.send(b"E" + PING)
        for conn in conns:
            conn.recv_exact(len(PING), time.monotonic() + 30)
        time.sleep(settle)
        after = tree_rss(pid)
        return (after - before) / max(1, len(conns))
    finally:
        close_all(conns)


def _echo(conns: list[Conn]) -> None:
    for conn in conns:
        conn.send(b"E" + PING)
        conn.recv_exact(len(PING), time.monotonic() + 30)


def first_bytes(path, count: int, w: int, h: int) -> list[float]:
    return [path.open_first_byte(w, h) for _ in range(count)]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[idx]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def idle_agent_rss(procs, workdir, counts: list[int], settle: float = 2.0) -> dict:
    """Gateway RSS per idle connected agent at each of ``counts`` agents, bytes.

    A fresh gateway; the load generator (its own process) connects agents in
    steps. The baseline is taken after a first 1% (at least 10) have
    connected, so one-off costs (imports, pools) are not charged per agent.
    """
    import subprocess

    from .procs import PYTHON
    from .stacks import PontePath, stop_ponte

    top = max(counts)
    ponte = PontePath(procs, workdir, 0, agents=0, users=0, idle=top)
    gen = procs.spawn("loadgen", [PYTHON, "-m", "bench.loadgen", "--url", ponte.base_url,
                                  "--credentials", str(ponte.idle_file)],
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = {"counts": {}, "connect_seconds": {}, "failed": 0}
    try:
        def step(n: int) -> dict:
            gen.stdin.write(f"connect {n}\n".encode())
            gen.stdin.flush()
            line = gen.stdout.readline()
            if not line:
                raise RuntimeError("load generator died")
            return json.loads(line)

        warm = max(10, top // 100)
        step(warm)
        time.sleep(settle)
        base = tree_rss(ponte.gateway_pid)
        out["baseline_bytes"] = base
        out["warm_agents"] = warm
        for n in sorted(counts):
            status = step(n)
            time.sleep(settle)
            rss = tree_rss(ponte.gateway_pid)
            connected = status["connected"]
            out["counts"][n] = {"connected": connected, "failed": status["failed"], "rss_bytes": rss,
                                "per_agent_bytes": (rss - base) / max(1, connected - warm),
                                "errors": status["errors"]}
            out["connect_seconds"][n] = status["seconds"]
        gen.stdin.write(b"quit\n")
        gen.stdin.flush()
        gen.stdout.readline()
    finally:
        procs.stop(gen)
        stop_ponte(procs, ponte)
    return out
