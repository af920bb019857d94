"""``python -m bench storm``: a login storm while live sessions echo (issue 8, item 2).

One gateway as a real deployment runs it (behind one reverse proxy:
``trusted_proxies = 1``, so each login's client address is its
``X-Forwarded-For``), Redis, one agent serving the synthetic RFB target in
echo mode, ``--sessions`` live sessions through the gateway. The client
pings the sessions round robin (64 bytes, as ``measure.rtt_idle``) for a
quiet window, then for the storm window while ``--logins`` people log in
(``GET /login`` then ``POST /login`` with the default argon2 cost), spread
evenly over ``--seconds`` from as many addresses. A ``/healthz`` probe runs
beside the logins, as a load balancer would.

The logins run in a forked child (threads), so the echo round trips timed
in this process never wait for the storm's GIL; the child reports its
figures as one JSON line on a pipe.

Figures: login p50/p99 and errors, ``/healthz`` p99, echo p99 quiet and
during the storm, and their ratio (target: ratio ≤ 2, no errors).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import selectors
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from . import measure
from .procs import Procs
from .report import write_json
from .sitting import Sitting
from .stacks import PASSWORD, PontePath, start_target, stop_ponte

FULL = dict(logins=200, seconds=20.0, sessions=10, quiet=10.0, users=20)
QUICK = dict(logins=20, seconds=4.0, sessions=3, quiet=2.0, users=4)
TARGET_RATIO = 2.0
HEALTH_INTERVAL = 0.5
#: The proxy's own address: what the gateway sees as the peer of every request.
PROXY_SOURCE = "127.0.0.1"


def log(msg: str) -> None:
    print(f"[bench storm {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def client_address(i: int) -> str:
    """A distinct documentation-range address per login (TEST-NET, RFC 5737; never dialled)."""
    return f"198.51.{100 + i // 250}.{1 + i % 250}"


def _request(host: str, port: int, method: str, path: str, headers: dict, body: bytes = b"",
             timeout: float = 60.0) -> tuple[int, bytes, list[str]]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=(PROXY_SOURCE, 0))
    try:
        conn.request(method, path, body=body, headers={"Connection": "close", **headers})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.headers.get_all("Set-Cookie") or []
    finally:
        conn.close()


def login_once(base_url: str, user: str, password: str, address: str) -> tuple[float, str | None]:
    """One person logging in through the proxy: seconds taken, and the error if any."""
    parts = urlsplit(base_url)
    fwd = {"X-Forwarded-For": address, "User-Agent": "ponte-bench-storm"}
    t0 = time.perf_counter()
    try:
        status, page, cookies = _request(parts.hostname, parts.port, "GET", "/login", fwd)
        if status != 200:
            return time.perf_counter() - t0, f"GET /login answered {status}"
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page) or \
            re.search(rb'value="([^"]+)"[^>]*name="csrf_token"', page)
        if token is None:
            return time.perf_counter() - t0, "no CSRF token on /login"
        cookie = "; ".join(c.split(";", 1)[0] for c in cookies)
        form = urlencode({"csrf_token": token.group(1).decode(), "name": user, "password": password}).encode()
        status, _body, _ = _request(parts.hostname, parts.port, "POST", "/login", {
            **fwd, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, form)
        elapsed = time.perf_counter() - t0
        return elapsed, None if status == 302 else f"POST /login answered {status}"
    except Exception as exc:  # every failure is a figure, never a crash of the bench
        return time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"


def storm(base_url: str, users: list[str], logins: int, seconds: float) -> dict:
    """``logins`` logins spread evenly over ``seconds``, each in its own thread, plus a health probe."""
    results: list = [None] * logins
    health: list[tuple[float, int]] = []
    done = threading.Event()
    parts = urlsplit(base_url)

    def one(i: int) -> None:
        results[i] = login_once(base_url, users[i % len(users)], PASSWORD, client_address(i))

    def probe() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            try:
                status = _request(parts.hostname, parts.port, "GET", "/healthz", {}, timeout=30)[0]
            except Exception:
                status = 0
            health.append((time.perf_counter() - t0, status))
            done.wait(HEALTH_INTERVAL)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    threads = []
    t0 = time.perf_counter()
    for i in range(logins):
        delay = t0 + i * seconds / logins - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one, args=(i,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(120)
    done.set()
    prober.join(35)
    wall = time.perf_counter() - t0
    times = [r[0] for r in results if r is not None]
    errors = [r[1] for r in results if r is None or r[1] is not None]
    return {"login_seconds": times, "errors": len(errors), "error_samples": sorted(set(map(str, errors)))[:5],
            "wall_seconds": wall, "health_seconds": [h[0] for h in health],
            "health_not_ok": sum(1 for h in health if h[1] != 200)}


def run_storm_child(base_url: str, users: list[str], logins: int, seconds: float) -> tuple[int, int]:
    """Fork the storm; returns (pid, read end of its result pipe)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(rfd)
            report = storm(base_url, users, logins, seconds)
            os.write(wfd, (json.dumps(report) + "\n").encode())
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    return pid, rfd


def ping_until(conns: list, stop) -> tuple[list[float], int]:
    """64-byte round trips round robin over ``conns`` until ``stop()``; (RTTs, errors)."""
    rtts, errors, i = [], 0, 0
    while not stop():
        conn = conns[i % len(conns)]
        i += 1
        t0 = time.perf_counter()
        try:
            conn.send(measure.PING)
            if conn.recv_exact(len(measure.PING), time.monotonic() + 30) != measure.PING:
                errors += 1
        except Exception:
            errors += 1
            continue
        rtts.append(time.perf_counter() - t0)
        time.sleep(measure.PING_INTERVAL)
    return rtts, errors


def ping_during_child(conns: list, pid: int, rfd: int, what: str) -> tuple[list[float], int, dict]:
    """Round trips over ``conns`` until the child ``pid`` writes its one-line JSON report to
    ``rfd``; (RTTs, errors, the report). The child runs the load; this process only measures."""
    with os.fdopen(rfd, "r") as reader, selectors.DefaultSelector() as sel:
        sel.register(reader, selectors.EVENT_READ)
        during, errors = ping_until(conns, lambda: bool(sel.select(0)))
        line = reader.readline()
    os.waitpid(pid, 0)
    if not line:
        raise RuntimeError(f"the {what} child died without a report")
    return during, errors, json.loads(line)


def run(procs: Procs, workdir: Path, plan: dict) -> dict:
    log(f"starting Redis, a gateway (trusted_proxies = 1), an agent and the echo target in {workdir}")
    target = start_target(procs)
    ponte = PontePath(procs, workdir / "ponte", target, agents=1, users=plan["users"],
                      env={"PONTE_TRUSTED_PROXIES": "1"})
    try:
        conns = [measure.echo_conn(ponte) for _ in range(plan["sessions"])]
        log(f"{len(conns)} echo sessions live; quiet window {plan['quiet']} s")
        ping_until(conns, _after(1.0))  # warm-up: first round trips of each session
        quiet, quiet_errors = ping_until(conns, _after(plan["quiet"]))
        log(f"storm: {plan['logins']} logins in {plan['seconds']} s from {plan['logins']} addresses")
        pid, rfd = run_storm_child(ponte.base_url, ponte.provisioned["users"], plan["logins"], plan["seconds"])
        during, during_errors, child = ping_during_child(conns, pid, rfd, "storm")
        measure.close_all(conns)
    finally:
        stop_ponte(procs, ponte)
    logins = child["login_seconds"]
    q99, d99 = measure.pct(quiet, 99) * 1e3, measure.pct(during, 99) * 1e3
    return {
        "login_p50_ms": measure.pct(logins, 50) * 1e3, "login_p99_ms": measure.pct(logins, 99) * 1e3,
        "login_max_ms": max(logins, default=float("nan")) * 1e3, "login_errors": child["errors"],
        "login_error_samples": child["error_samples"], "storm_wall_s": child["wall_seconds"],
        "healthz_p99_ms": measure.pct(child["health_seconds"], 99) * 1e3,
        "healthz_not_ok": child["health_not_ok"],
        "echo_quiet_p50_ms": measure.pct(quiet, 50) * 1e3, "echo_quiet_p99_ms": q99,
        "echo_during_p50_ms": measure.pct(during, 50) * 1e3, "echo_during_p99_ms": d99,
        "echo_during_max_ms": max(during, default=float("nan")) * 1e3,
        "echo_ratio_p99": d99 / q99 if q99 else float("nan"),
        "echo_errors": quiet_errors + during_errors, "echo_samples": [len(quiet), len(during)],
    }


def _after(seconds: float):
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end


def table(fig: dict, plan: dict) -> str:
    rows = [
        ("login p50 (GET + POST /login)", "ms", fig["login_p50_ms"]),
        ("login p99", "ms", fig["login_p99_ms"]),
        ("login slowest", "ms", fig["login_max_ms"]),
        ("login errors", "", fig["login_errors"]),
        ("/healthz p99 during the storm", "ms", fig["healthz_p99_ms"]),
        (f"64 B echo p99, quiet ({plan['sessions']} sessions)", "ms", fig["echo_quiet_p99_ms"]),
        ("64 B echo p99, during the storm", "ms", fig["echo_during_p99_ms"]),
        ("64 B echo slowest, during the storm", "ms", fig["echo_during_max_ms"]),
        ("echo p99 during / quiet", "×", fig["echo_ratio_p99"]),
        ("echo errors", "", fig["echo_errors"]),
    ]
    lines = ["| figure | unit | value |", "|---|---|---|"]
    lines += [f"| {label} | {unit} | {_fmt(value)} |" for label, unit, value in rows]
    met_ratio = fig["echo_ratio_p99"] <= TARGET_RATIO
    met_errors = fig["login_errors"] == 0 and fig["echo_errors"] == 0
    lines += ["", "| target (issue 8) | value | met |", "|---|---|---|",
              f"| echo p99 during / quiet ≤ {TARGET_RATIO:g} | {_fmt(fig['echo_ratio_p99'])}× | "
              f"{'yes' if met_ratio else 'no'} |",
              f"| no errors | {fig['login_errors'] + fig['echo_errors']} | {'yes' if met_errors else 'no'} |"]
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, int):
        return str(value)
    if value != value:  # NaN
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench storm", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 logins in 4 s, 3 sessions (CI smoke)")
    parser.add_argument("--logins", type=int, help="logins in the storm (default 200)")
    parser.add_argument("--seconds", type=float, help="spread over this many seconds (default 20)")
    parser.add_argument("--sessions", type=int, help="echoing live sessions (default 10)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--workdir", help="keep logs and instance folders here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    for key in ("logins", "seconds", "sessions"):
        if getattr(args, key) is not None:
            plan[key] = getattr(args, key)
    with Sitting("storm", args.workdir) as sitting:
        fig = run(sitting.procs, sitting.workdir, plan)
    command = sitting.command("python -m bench storm", args, ("logins", "seconds", "sessions"))
    meta = sitting.meta(command, plan=plan)
    print(table(fig, plan))
    print(f"\n{command}: {sitting.footer()} (client, gateway, agent and target share them).")
    if fig["login_error_samples"]:
        print("login errors, e.g.: " + "; ".join(fig["login_error_samples"]))
    if args.json:
        write_json(args.json, {"meta": meta, "figures": fig})
    return 0
