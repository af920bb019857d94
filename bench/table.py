"""``python -m bench table [--runs 3] [--suites …] [--quick] [--json FILE]``: issue 16's table.

Runs each suite ``--runs`` times (each run its own ``python -m bench <suite> --json …``
process, the suites interleaved: run 1 of every suite, then run 2, … so a change in the
machine's load meets all of them), then prints one table: every figure issue 16 sets a
target for, and the login storm's, the sign-up surge's and recording's, as the median of
the runs with their spread (lowest–highest), whether the median meets the target, and the
machine's 1-minute load average at each run's start and end.

Suites (``--suites``, comma-separated; default all that can run here):

* ``relay``: ``python -m bench`` (one gateway worker): single stream, 100-stream p99,
  first byte, idle agents — each Ponte figure beside websockify's in the same run;
* ``relay2``: ``python -m bench --workers 2``: the 10/50/100-stream aggregates;
* ``office``, ``wan`` (needs root: network namespaces; skipped otherwise), ``storm``,
  ``signup``, ``recording``: the suites of the same names.

Each figure is read from the suite's own JSON (``rows_of``): this module measures
nothing itself, so a figure here is the suite's, whatever its run printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .procs import PYTHON
from .report import write_json

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("relay", "relay2", "office", "wan", "storm", "signup", "recording")
#: A suite's command after ``python -m bench`` (its --json and --quick are added).
COMMANDS = {"relay": [], "relay2": ["--workers", "2"], "office": ["office"], "wan": ["wan"],
            "storm": ["storm"], "signup": ["signup"], "recording": ["recording"]}
#: The WAN links' round trip (``bench/wan.py``: 40 ms): "≤ direct VNC + 1 RTT".
WAN_RTT_MS = 40.0


def log(msg: str) -> None:
    print(f"[bench table {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _row(key: str, label: str, unit: str, value, op: str = "", limit: float | None = None) -> dict:
    return {"key": key, "label": label, "unit": unit, "value": value, "op": op, "limit": limit}


def rows_of(suite: str, data: dict) -> list[dict]:
    """The table's rows from one run's JSON of ``suite``: figures, and the target where issue 16
    (or the suite's own issue) sets one."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}")
    if suite in ("relay", "relay2"):
        by_key = {r["key"]: r for r in data["rows"]}
        levels = data["meta"]["levels"]
        top = max(levels)
        if suite == "relay2":
            out = []
            for n in levels:
                out.append(_row(f"relay2.concurrent_{n}_ratio", f"{n} streams aggregate vs websockify, 2 workers",
                                "×", by_key[f"concurrent_{n}_mbps"]["ponte/websockify"], ">=", 1.0))
                out.append(_row(f"relay2.concurrent_{n}_mbps", f"{n} streams aggregate, 2 workers (Ponte)", "MB/s",
                                by_key[f"concurrent_{n}_mbps"]["ponte"]))
            out.append(_row(f"relay2.concurrent_{top}_p99", f"{top} streams 64 B RTT p99, 2 workers", "ms",
                            by_key[f"concurrent_{top}_rtt_p99_ms"]["ponte"], "<=", 20.0))
            out.append(_row(f"relay2.concurrent_{top}_errors", f"{top} streams errors, 2 workers", "",
                            by_key[f"concurrent_{top}_errors"]["ponte"], "<=", 0))
            return out
        most = max(data["meta"]["idle_agent_counts"])
        return [
            _row("relay.single_ratio", "single stream vs websockify", "×",
                 by_key["throughput_mbps"]["ponte/websockify"], ">=", 1.2),
            _row("relay.single_mbps", "single stream (Ponte)", "MB/s", by_key["throughput_mbps"]["ponte"]),
            _row(f"relay.concurrent_{top}_ratio", f"{top} streams aggregate vs websockify, 1 worker", "×",
                 by_key[f"concurrent_{top}_mbps"]["ponte/websockify"]),
            _row(f"relay.concurrent_{top}_p99", f"{top} streams 64 B RTT p99, 1 worker", "ms",
                 by_key[f"concurrent_{top}_rtt_p99_ms"]["ponte"], "<=", 20.0),
            _row(f"relay.concurrent_{top}_errors", f"{top} streams errors, 1 worker", "",
                 by_key[f"concurrent_{top}_errors"]["ponte"], "<=", 0),
            _row("relay.first_byte", "ticket → first update byte on loopback", "ms",
                 by_key["first_byte_ms"]["ponte"], "<=", 5.0),
            _row("relay.first_byte_websockify", "  connect → first update byte, websockify", "ms",
                 by_key["first_byte_ms"]["websockify"]),
            _row(f"relay.idle_agent_{most}", f"gateway RSS per idle agent ({most})", "KB",
                 by_key[f"idle_agent_rss_kb_{most}"]["ponte"], "<=", 20.0),
        ]
    fig = data["figures"]
    if suite == "office":
        ponte, wsk = fig["ponte"], fig["websockify"]
        n = data["plan"]["sessions"]
        rss = ponte["relay_rss_mb"] / wsk["relay_rss_mb"] if wsk.get("relay_rss_mb") else None
        return [
            _row("office.echo_p99", f"office load, {n} sessions: echo p99", "ms", ponte["echo_p99_ms"], "<=", 20.0),
            _row("office.errors", f"office load, {n} sessions: errors", "", ponte["errors"], "<=", 0),
            _row("office.rss_ratio", f"office load, {n} sessions: gateway RSS / websockify's", "×", rss, "<=", 0.1),
            _row("office.echo_p99_websockify", f"  office load, {n} sessions: websockify echo p99", "ms",
                 wsk["echo_p99_ms"]),
        ]
    if suite == "wan":
        screen, echo50, echo99 = fig["first_screen_s_p50"], fig["echo_s_p50"], fig["echo_s_p99"]
        return [
            _row("wan.first_screen_over_direct", "WAN: ticket → first full screen, over direct VNC", "ms",
                 screen["ponte"] - screen["raw"], "<=", WAN_RTT_MS),
            _row("wan.echo_added_p50", "WAN: keystroke echo p50 added over direct VNC", "ms",
                 echo50["ponte"] - echo50["raw"], "<=", 2.0),
            _row("wan.echo_added_p99", "WAN: keystroke echo p99 added over direct VNC", "ms",
                 echo99["ponte"] - echo99["raw"]),
        ]
    if suite == "storm":
        return [
            _row("storm.echo_ratio", "login storm: echo p99 during / quiet (issue 8)", "×", fig["echo_ratio_p99"],
                 "<=", 2.0),
            _row("storm.errors", "login storm: echo errors", "", fig["echo_errors"], "<=", 0),
            _row("storm.login_p99", "login storm: login p99", "ms", fig["login_p99_ms"]),
        ]
    if suite == "signup":
        errors = fig["signup_errors"] + fig["mails_missing"] + fig["echo_errors"]
        return [
            _row("signup.echo_ratio", "sign-up surge: echo p99 during / quiet (issue 17)", "×",
                 fig["echo_ratio_p99"], "<=", 1.5),
            _row("signup.errors", "sign-up surge: errors (sign-ups, mails, echoes)", "", errors, "<=", 0),
            _row("signup.p99", "sign-up surge: sign-up p99", "ms", fig["signup_p99_ms"]),
        ]
    out = []  # recording
    for phase, words in (("saturated", "a saturated stream"), ("paced", "a paced stream"),
                         ("office", f"office load ({fig['office_sessions']} sessions)")):
        off, on = fig[phase]["off"], fig[phase]["on"]
        out.append(_row(f"recording.{phase}_ratio", f"recording on/off: throughput, {words} (issue 15)", "×",
                        fig[phase]["ratio_median"], ">=", 0.9))
        out.append(_row(f"recording.{phase}_p99_added", f"recording on − off: 64 B RTT p99, {words}", "ms",
                        on["rtt_loaded_p99_ms"] - off["rtt_loaded_p99_ms"]))
        out.append(_row(f"recording.{phase}_stopped", f"recordings stopped early, {words}", "",
                        len(on["recorded"]["stopped"])))
    out.append(_row("recording.paced_mbps", "  the paced stream's rate (half the folder's write speed)", "MB/s",
                    fig["paced_mbps"]))
    out.append(_row("recording.folder_mbps", "  the recording folder's direct writes (before the rounds)", "MB/s",
                    fig["folder_write_mbps"][0]))
    return out


def summarise(runs: dict[str, list[dict]]) -> list[dict]:
    """Each row over the runs of its suite: median, lowest, highest, and the median's verdict."""
    table = []
    for suite, datas in runs.items():
        per_run = [rows_of(suite, d) for d in datas]
        if not per_run:
            continue
        for i, first in enumerate(per_run[0]):
            values = [rows[i]["value"] for rows in per_run if rows[i]["value"] is not None]
            median = statistics.median(values) if values else None
            met = None
            if first["op"] and median is not None:
                met = median >= first["limit"] if first["op"] == ">=" else median <= first["limit"]
            table.append({**first, "suite": suite, "values": values, "median": median,
                          "low": min(values, default=None), "high": max(values, default=None), "met": met})
    return table


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, int):
        return str(v)
    if v != v:
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def render(table: list[dict], loads: dict[str, list]) -> str:
    lines = ["| figure | unit | median | lowest–highest | runs | target | met |", "|---|---|---|---|---|---|---|"]
    for r in table:
        target = f"{r['op'].replace('>=', '≥').replace('<=', '≤')} {_fmt(r['limit'])}" if r["op"] else ""
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['label']} | {r['unit']} | {_fmt(r['median'])} | {_fmt(r['low'])}–{_fmt(r['high'])} | "
                     f"{len(r['values'])} | {target} | {met} |")
    lines.append("")
    lines.append("load average (1 min) at each run's start → end: " + "; ".join(
        f"{suite} " + ", ".join(f"{a:.1f}→{b:.1f}" for a, b in pairs) for suite, pairs in loads.items()))
    return "\n".join(lines)


def run_suite(suite: str, quick: bool, folder: Path, k: int) -> tuple[dict, tuple[float, float], float]:
    out = folder / f"{suite}-{k}.json"
    cmd = [PYTHON, "-m", "bench", *COMMANDS[suite], *(["--quick"] if quick else []), "--json", str(out)]
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed (rc {done.returncode}): {done.stderr[-3000:]}")
    return json.loads(out.read_text()), (load, os.getloadavg()[0]), time.monotonic() - t0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench table", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="full runs of each suite (default 3)")
    parser.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated, of {', '.join(SUITES)}")
    parser.add_argument("--quick", action="store_true", help="each suite's --quick sizes (a smoke run)")
    parser.add_argument("--json", metavar="FILE", help="also write every run's figures and the table as JSON")
    args = parser.parse_args(argv)
    suites = [s for s in args.suites.split(",") if s]
    unknown = set(suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suites: {', '.join(sorted(unknown))}")
    skipped = []
    if "wan" in suites and os.geteuid() != 0:
        suites.remove("wan")
        skipped.append("wan (needs root for its network namespaces)")
    runs: dict[str, list[dict]] = {s: [] for s in suites}
    loads: dict[str, list] = {s: [] for s in suites}
    seconds: dict[str, float] = {s: 0.0 for s in suites}
    with tempfile.TemporaryDirectory(prefix="ponte-bench-table-") as tmp:
        for k in range(1, args.runs + 1):
            for suite in suites:
                log(f"{suite}: run {k}/{args.runs}")
                data, load, took = run_suite(suite, args.quick, Path(tmp), k)
                runs[suite].append(data)
                loads[suite].append(load)
                seconds[suite] += took
    table = summarise(runs)
    print(render(table, loads))
    command = (f"python -m bench table --runs {args.runs}" + (" --quick" if args.quick else "")
               + ("" if args.suites == ",".join(SUITES) else f" --suites {args.suites}"))
    print(f"\n{command}: {sum(seconds.values()):.0f} s on {os.cpu_count()} CPUs; every suite's processes share "
          "them." + (f" Skipped: {'; '.join(skipped)}." if skipped else ""))
    if args.json:
        write_json(args.json, {"command": command, "table": table, "loads": loads, "seconds": seconds,
                               "skipped": skipped, "runs": runs})
    return 0
