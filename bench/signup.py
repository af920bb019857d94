"""``python -m bench signup``: firms signing up while live sessions echo (issue 17).

One gateway as a real deployment runs it (behind one reverse proxy, ``trusted_proxies = 1``:
each sign-up's client address is its ``X-Forwarded-For``), with the public sign-up on, its
default limits, its default proof-of-work cost, and mail to a real SMTP server (aiosmtpd,
``bench/smtpsink.py``, its own process); Redis; one agent serving the synthetic RFB target in
echo mode; ``--sessions`` live sessions through the gateway, pinged round robin (64 bytes,
as ``bench storm``) through a quiet window, then while the sign-ups run:

* sustained: ``--rate`` sign-ups an hour (1,000) for ``--sustained`` seconds (the issue asks
  for an hour at that rate; the default runs five minutes of it);
* burst: ``--burst`` sign-ups (100) spread over ``--burst-seconds`` (60).

Each sign-up is a person's browser: ``GET /signup``, the proof-of-work solved (not timed:
it is the client's work), ``POST /signup`` from its own address and e-mail. Its latency is the
two requests' time. The sign-ups run in a forked child (threads), so the echo round trips
timed here never wait for their GIL. At the end the bench waits for the confirmation mails.

Figures: sign-up p50/p99, errors (any answer but the "Check your e-mail" page, and mails that
never arrived), echo p99 quiet and during, and their ratio (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from . import measure
from .procs import Procs
from .report import write_json
from .sitting import Sitting
from .stacks import PontePath, free_port, start_target, stop_ponte
from .storm import _after, _fmt, _request, ping_during_child, ping_until

FULL = dict(sessions=50, quiet=20.0, rate=1000.0, sustained=300.0, burst=100, burst_seconds=60.0)
QUICK = dict(sessions=5, quiet=3.0, rate=1000.0, sustained=18.0, burst=20, burst_seconds=10.0)
TARGET_RATIO = 1.5
MAIL_WAIT = 120.0


def log(msg: str) -> None:
    print(f"[bench signup {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def client_address(i: int) -> str:
    """A distinct address per sign-up, from 203.0.113.0/24 (TEST-NET-3) on: only ever an
    X-Forwarded-For header, never dialled."""
    return f"203.0.{113 + i // 250 % 10}.{1 + i % 250}"


def signup_once(base_url: str, i: int) -> tuple[float, str | None]:
    """One firm's browser asking for access: seconds of the two requests, and the error if any."""
    from gateway.signup.proof import solve

    parts = urlsplit(base_url)
    fwd = {"X-Forwarded-For": client_address(i), "User-Agent": "ponte-bench-signup"}
    try:
        t0 = time.perf_counter()
        status, page, cookies = _request(parts.hostname, parts.port, "GET", "/signup", fwd)
        got = time.perf_counter() - t0
        if status != 200:
            return got, f"GET /signup answered {status}"
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        challenge = re.search(rb'name="challenge" value="([^"]+)"', page)
        bits = re.search(rb'data-bits="(\d+)"', page)
        if not (token and challenge and bits):
            return got, "no CSRF token or challenge on /signup"
        proof = solve(challenge.group(1).decode(), int(bits.group(1)))
        form = urlencode({"csrf_token": token.group(1).decode(), "challenge": challenge.group(1).decode(),
                          "proof": proof, "website": "", "firm": f"Bench Firm {i}", "contact": f"Person {i}",
                          "email": f"firm{i}@bench.example", "pcs": str(1 + i % 50)}).encode()
        cookie = "; ".join(c.split(";", 1)[0] for c in cookies)
        t1 = time.perf_counter()
        status, body, _ = _request(parts.hostname, parts.port, "POST", "/signup", {
            **fwd, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, form)
        elapsed = got + time.perf_counter() - t1
        if status != 200 or b"signup-form" in body:
            return elapsed, f"POST /signup answered {status}"
        return elapsed, None
    except Exception as exc:  # every failure is a figure, never a crash of the bench
        return float("nan"), f"{type(exc).__name__}: {exc}"


def run_phase(base_url: str, first: int, count: int, seconds: float) -> list:
    """``count`` sign-ups spread evenly over ``seconds``, each in its own thread."""
    results: list = [None] * count
    threads = []
    t0 = time.perf_counter()

    def one(k: int) -> None:
        results[k] = signup_once(base_url, first + k)

    for k in range(count):
        delay = t0 + k * seconds / max(count, 1) - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one, args=(k,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(120)
    return [r if r is not None else (float("nan"), "no answer in 120 s") for r in results]


def signups(base_url: str, plan: dict) -> dict:
    sustained = max(1, round(plan["rate"] * plan["sustained"] / 3600))
    t0 = time.perf_counter()
    steady = run_phase(base_url, 0, sustained, plan["sustained"])
    burst = run_phase(base_url, sustained, plan["burst"], plan["burst_seconds"])
    return {"sustained": steady, "burst": burst, "wall_seconds": time.perf_counter() - t0}


def run_child(base_url: str, plan: dict) -> tuple[int, int]:
    """Fork the sign-ups; returns (pid, read end of its result pipe)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(rfd)
            os.write(wfd, (json.dumps(signups(base_url, plan)) + "\n").encode())
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    return pid, rfd


def _mails(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def run(procs: Procs, workdir: Path, plan: dict) -> dict:
    log(f"starting an SMTP sink, Redis, a gateway (sign-up on), an agent and the echo target in {workdir}")
    smtp_port, count_file = free_port(), workdir / "mails.txt"
    procs.spawn("smtpsink", [sys.executable, "-m", "bench.smtpsink", "--port", str(smtp_port),
                             "--count-file", str(count_file)])
    from tests.support import wait_for

    wait_for(lambda: (procs.logdir / "smtpsink.log").exists() and count_file.exists(), timeout=15,
             what="SMTP sink")
    target = start_target(procs)
    env = {"PONTE_TRUSTED_PROXIES": "1", "PONTE_SIGNUP": "1", "PONTE_SMTP_HOST": "127.0.0.1",
           "PONTE_SMTP_PORT": str(smtp_port), "PONTE_SMTP_SECURITY": "none", "PONTE_SMTP_FROM": "ponte@bench.example",
           "PONTE_PUBLIC_URL": "http://127.0.0.1"}
    ponte = PontePath(procs, workdir / "ponte", target, agents=1, users=plan["sessions"] // 5 + 2, env=env)
    try:
        conns = [measure.echo_conn(ponte) for _ in range(plan["sessions"])]
        log(f"{len(conns)} echo sessions live; quiet window {plan['quiet']} s")
        ping_until(conns, _after(1.0))
        quiet, quiet_errors = ping_until(conns, _after(plan["quiet"]))
        log(f"sign-ups: {plan['rate']:g}/h for {plan['sustained']:g} s, then {plan['burst']} in "
            f"{plan['burst_seconds']:g} s")
        pid, rfd = run_child(ponte.base_url, plan)
        during, during_errors, child = ping_during_child(conns, pid, rfd, "sign-up")
        measure.close_all(conns)
        accepted = sum(1 for _t, err in child["sustained"] + child["burst"] if err is None)
        deadline = time.monotonic() + MAIL_WAIT
        while _mails(count_file) < accepted and time.monotonic() < deadline:
            time.sleep(0.5)
        mails = _mails(count_file)
    finally:
        stop_ponte(procs, ponte)
    every = child["sustained"] + child["burst"]
    times = [t for t, _e in every if t == t]
    errors = [e for _t, e in every if e is not None]
    burst_times = [t for t, _e in child["burst"] if t == t]
    q99, d99 = measure.pct(quiet, 99) * 1e3, measure.pct(during, 99) * 1e3
    return {
        "signups": len(every), "signups_sustained": len(child["sustained"]), "signups_burst": len(child["burst"]),
        "signup_p50_ms": measure.pct(times, 50) * 1e3, "signup_p99_ms": measure.pct(times, 99) * 1e3,
        "signup_burst_p99_ms": measure.pct(burst_times, 99) * 1e3,
        "signup_max_ms": max(times, default=float("nan")) * 1e3,
        "signup_errors": len(errors), "signup_error_samples": sorted(set(errors))[:5],
        "mails": mails, "mails_missing": max(0, len(every) - len(errors) - mails),
        "signup_wall_s": child["wall_seconds"],
        "echo_quiet_p50_ms": measure.pct(quiet, 50) * 1e3, "echo_quiet_p99_ms": q99,
        "echo_during_p50_ms": measure.pct(during, 50) * 1e3, "echo_during_p99_ms": d99,
        "echo_during_max_ms": max(during, default=float("nan")) * 1e3,
        "echo_ratio_p99": d99 / q99 if q99 else float("nan"),
        "echo_errors": quiet_errors + during_errors, "echo_samples": [len(quiet), len(during)],
    }


def table(fig: dict, plan: dict) -> str:
    rows = [
        ("sign-ups (sustained + burst)", "", f"{fig['signups_sustained']} + {fig['signups_burst']}"),
        ("sign-up p50 (GET + POST /signup)", "ms", fig["signup_p50_ms"]),
        ("sign-up p99", "ms", fig["signup_p99_ms"]),
        ("sign-up p99, burst only", "ms", fig["signup_burst_p99_ms"]),
        ("sign-up slowest", "ms", fig["signup_max_ms"]),
        ("sign-up errors", "", fig["signup_errors"]),
        ("confirmation mails received / missing", "", f"{fig['mails']} / {fig['mails_missing']}"),
        (f"64 B echo p99, quiet ({plan['sessions']} sessions)", "ms", fig["echo_quiet_p99_ms"]),
        ("64 B echo p99, during the sign-ups", "ms", fig["echo_during_p99_ms"]),
        ("64 B echo slowest, during the sign-ups", "ms", fig["echo_during_max_ms"]),
        ("echo p99 during / quiet", "×", fig["echo_ratio_p99"]),
        ("echo errors", "", fig["echo_errors"]),
    ]
    lines = ["| figure | unit | value |", "|---|---|---|"]
    lines += [f"| {label} | {unit} | {value if isinstance(value, str) else _fmt(value)} |" for label, unit, value in rows]
    errors = fig["signup_errors"] + fig["mails_missing"] + fig["echo_errors"]
    lines += ["", "| target (issue 17) | value | met |", "|---|---|---|",
              f"| echo p99 during / quiet ≤ {TARGET_RATIO:g} | {_fmt(fig['echo_ratio_p99'])}× | "
              f"{'yes' if fig['echo_ratio_p99'] <= TARGET_RATIO else 'no'} |",
              f"| no errors | {errors} | {'yes' if errors == 0 else 'no'} |"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench signup", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 sessions, 18 s sustained, 20 in 10 s (CI smoke)")
    for key, kind, words in (("sessions", int, "echoing live sessions (default 50)"),
                             ("rate", float, "sustained sign-ups per hour (default 1000)"),
                             ("sustained", float, "seconds of the sustained rate (default 300)"),
                             ("burst", int, "sign-ups in the burst (default 100)"),
                             ("burst-seconds", float, "the burst's spread in seconds (default 60)")):
        parser.add_argument(f"--{key}", type=kind, help=words)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--workdir", help="keep logs and instance folders here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    for key in ("sessions", "rate", "sustained", "burst", "burst_seconds"):
        if getattr(args, key) is not None:
            plan[key] = getattr(args, key)
    with Sitting("signup", args.workdir) as sitting:
        fig = run(sitting.procs, sitting.workdir, plan)
    command = sitting.command("python -m bench signup", args,
                              ("sessions", "rate", "sustained", "burst", "burst_seconds"))
    meta = sitting.meta(command, plan=plan)
    print(table(fig, plan))
    print(f"\n{command}: {sitting.footer()} (client, gateway, agent, SMTP sink and target share them).")
    if fig["signup_error_samples"]:
        print("sign-up errors, e.g.: " + "; ".join(fig["signup_error_samples"]))
    if args.json:
        write_json(args.json, {"meta": meta, "figures": fig})
    return 0
