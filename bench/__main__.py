"""``python -m bench [--quick] [--json FILE]``: the relay benchmark of issue 3.

``python -m bench storm [--quick]`` is the login-storm suite of issue 8 (``bench/storm.py``);
``python -m bench wan [--quick]`` the three paths over an emulated WAN, issue 16 (``bench/wan.py``);
``python -m bench office [--quick]`` a thousand office sessions on each path, issue 16 (``bench/office.py``);
``python -m bench signup [--quick]`` firms signing up while sessions echo, issue 17 (``bench/signup.py``);
``python -m bench recording [--quick]`` the relay with session recording off and on, issue 15 (``bench/recording.py``);
``python -m bench table [--runs 3]`` all of them, N runs each, in one table of issue 16's targets (``bench/table.py``).

Starts everything it needs on 127.0.0.1 (synthetic RFB target, websockify,
Redis, a gateway, agents, an idle-agent load generator), measures the three
paths with the same client, prints a table, and stops every process it
started, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import measure, report  # noqa: E402
from bench.procs import Procs, raise_nofile  # noqa: E402
from bench.stacks import PontePath, RawPath, WebsockifyPath, start_target, stop_ponte  # noqa: E402

FULL = dict(rounds=3, seconds=2.0, warmup=1.0, pings=2000, loaded_seconds=3.0, levels=[10, 50, 100], level_seconds=4.0,
            first=50, live=100, agents=[1000, 10000])
QUICK = dict(rounds=1, seconds=0.5, warmup=0.2, pings=100, loaded_seconds=0.5, levels=[2, 4, 8], level_seconds=0.5,
             first=5, live=5, agents=[50, 100])


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["storm"]:  # the login-storm suite (issue 8): its own options
        from bench import storm

        return storm.main(argv[1:])
    if argv[:1] == ["office"]:  # the office-load suite (issue 16): its own options
        from bench import office

        return office.main(argv[1:])
    if argv[:1] == ["signup"]:  # the sign-up surge suite (issue 17): its own options
        from bench import signup

        return signup.main(argv[1:])
    if argv[:1] == ["recording"]:  # recording on vs off (issue 15): its own options
        from bench import recording

        return recording.main(argv[1:])
    if argv[:1] == ["table"]:  # every suite, several runs, one table (issue 16)
        from bench import table

        return table.main(argv[1:])
    if argv[:1] == ["wan"]:  # the emulated-WAN suite (issue 16): its own options
        from bench import wan

        return wan.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description="Ponte relay benchmark (issue 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes for CI (well under a minute)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--agents", type=int, default=None,
                        help="agent processes serving the Ponte sessions, round robin (default 4; --quick 1)")
    parser.add_argument("--update", default="256x256",
                        help="FramebufferUpdate rectangle WxH, 32 bpp (default 256x256 = 256 KiB)")
    parser.add_argument("--idle-agents", help="comma-separated idle agent counts (default 1000,10000)")
    parser.add_argument("--workers", type=int, default=1,
                        help="gateway worker processes (serve --workers; default 1)")
    parser.add_argument("--workdir", help="keep logs and instance folders here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.idle_agents:
        plan["agents"] = [int(x) for x in args.idle_agents.split(",")]
    w, h = (int(x) for x in args.update.lower().split("x"))
    if args.agents is None:
        args.agents = 1 if args.quick else 4

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ponte-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    nofile = raise_nofile(2 * max(plan["agents"]) + 4096)
    procs = Procs(workdir / "logs")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    load_start = os.getloadavg()
    try:
        results = run(procs, workdir, plan, args.agents, w, h, args.workers)
    finally:
        procs.stop_all()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    rows, goals, extra = results
    meta = {
        "command": "python -m bench" + (" --quick" if args.quick else "") +
                   (f" --agents {args.agents}" if args.agents != (1 if args.quick else 4) else "") +
                   (f" --idle-agents {args.idle_agents}" if args.idle_agents else "") +
                   (f" --update {args.update}" if args.update != "256x256" else "") +
                   (f" --workers {args.workers}" if args.workers != 1 else ""),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "cpu_model": _cpu_model(), "python": platform.python_version(),
        "kernel": platform.release(), "plan": plan, "update_bytes": w * h * 4 + 16, "agents": args.agents,
        "nofile": nofile, "seconds": round(time.monotonic() - started, 1),
        "levels": plan["levels"], "idle_agent_counts": plan["agents"],
        "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
    }
    print(report.table(rows, goals))
    print(f"\n{meta['command']}: {meta['seconds']} s on {meta['cpus']} CPUs ({meta['cpu_model']}); "
          f"client, target, websockify, gateway and agent all share them. Load average "
          f"{meta['loadavg_start'][0]:.1f} at start, {meta['loadavg_end'][0]:.1f} at end (1 min; the bench itself "
          f"keeps about 4 processes busy).")
    if args.json:
        report.write_json(args.json, {"meta": meta, "rows": rows, "targets": goals, "details": extra})
    return 0


def run(procs: Procs, workdir: Path, plan: dict, agents: int, w: int, h: int, workers: int = 1):
    log(f"starting target, websockify and Ponte in {workdir}")
    target = start_target(procs)
    sessions = (plan["live"] + measure.WARM_SESSIONS + plan["rounds"] + 3 + sum(plan["levels"]) + len(plan["levels"])
                + plan["first"] + 5)
    paths = {"raw": RawPath(target), "websockify": WebsockifyPath(procs, target)}
    ponte = PontePath(procs, workdir / "ponte", target, agents=agents, users=sessions // 25 + 2,
                      env={"PONTE_WORKERS": str(workers)})
    paths["ponte"] = ponte
    v: dict[str, dict] = {}
    extra: dict = {}

    def put(key: str, name: str, value) -> None:
        v.setdefault(key, {})[name] = value

    log(f"Ponte: gateway RSS per live session ({plan['live']} idle sessions)")
    put("live_session_rss_kb", "ponte", measure.live_session_rss(ponte, plan["live"]) / 1024)

    # Rounds alternate the paths, so a change in background load hits all of them.
    tput: dict[str, list] = {name: [] for name in paths}
    cpu: dict[str, dict] = {name: {} for name in paths}
    moved = {name: 0 for name in paths}
    for r in range(plan["rounds"]):
        for name, path in paths.items():
            log(f"{name}: single-stream throughput, round {r + 1}/{plan['rounds']} ({plan['seconds']} s)")
            win = measure.throughput(path, plan["seconds"], plan["warmup"], w, h)
            tput[name].append(win.mbps)
            moved[name] += win.total
            for k, c in win.cpu.items():
                cpu[name][k] = cpu[name].get(k, 0.0) + c
    extra["throughput_rounds_mbps"] = tput
    extra["cpu_seconds"] = {name: {"cpu": cpu[name], "bytes": moved[name]} for name in paths}
    for name in paths:
        put("throughput_mbps", name, measure.median(tput[name]))
        gb = moved[name] / 1e9
        if name == "websockify":
            put("cpu_relay_s_per_gb", name, cpu[name]["websockify"] / gb)
            put("node_mbps_per_core", name, gb * 1e3 / cpu[name]["websockify"])
        elif name == "ponte":
            gw = cpu[name]["gateway"]
            ag = sum(c for k, c in cpu[name].items() if k.startswith("agent:"))
            put("cpu_relay_s_per_gb", name, (gw + ag) / gb)
            put("cpu_gateway_s_per_gb", name, gw / gb)
            put("cpu_agent_s_per_gb", name, ag / gb)
            put("node_mbps_per_core", name, gb * 1e3 / gw)

    for name, path in paths.items():
        log(f"{name}: 64-byte round trips, idle ({plan['pings']})")
        rtts = measure.rtt_idle(path, plan["pings"])
        put("rtt_idle_p50_ms", name, measure.pct(rtts, 50) * 1e3)
        put("rtt_idle_p99_ms", name, measure.pct(rtts, 99) * 1e3)

    for name, path in paths.items():
        log(f"{name}: 64-byte round trips while another stream saturates")
        win = measure.loaded(path, 1, plan["loaded_seconds"], plan["warmup"], w, h)
        put("rtt_loaded_p50_ms", name, measure.pct(win.rtts, 50) * 1e3)
        put("rtt_loaded_p99_ms", name, measure.pct(win.rtts, 99) * 1e3)
        put("rtt_loaded_stream_mbps", name, win.mbps)

    for n in plan["levels"]:
        for name, path in paths.items():
            log(f"{name}: {n} concurrent streams ({plan['level_seconds']} s)")
            win = measure.loaded(path, n, plan["level_seconds"], plan["warmup"], w, h)
            put(f"concurrent_{n}_mbps", name, win.mbps)
            put(f"concurrent_{n}_rtt_p99_ms", name, measure.pct(win.rtts, 99) * 1e3)
            put(f"concurrent_{n}_errors", name, win.errors)
            streams = [b / win.seconds / 1e6 for b in win.per_stream]
            extra.setdefault("concurrent", {}).setdefault(str(n), {})[name] = {
                "min_stream_mbps": min(streams, default=0), "max_stream_mbps": max(streams, default=0),
                "rtt_p50_ms": measure.pct(win.rtts, 50) * 1e3, "probes": len(win.rtts),
                "rss_bytes": win.rss, "cpu_seconds": win.cpu}
            if name == "ponte" and n == max(plan["levels"]):
                put("streaming_session_rss_kb", name, (win.rss["gateway"] - win.rss_before["gateway"]) / n / 1024)

    for name, path in paths.items():
        log(f"{name}: ticket/connect → first FramebufferUpdate byte ({plan['first']})")
        put("first_byte_ms", name, measure.median(measure.first_bytes(path, plan["first"], w, h)) * 1e3)

    log("stopping the relay paths")
    procs.stop(paths["websockify"].proc)
    stop_ponte(procs, ponte)

    log(f"Ponte: idle agents {plan['agents']} (fresh gateway, load generator)")
    idle = measure.idle_agent_rss(procs, workdir / "idle", plan["agents"])
    extra["idle_agents"] = idle
    for n in plan["agents"]:
        put(f"idle_agent_rss_kb_{n}", "ponte", idle["counts"][n]["per_agent_bytes"] / 1024)
        put(f"idle_agent_failed_{n}", "ponte", idle["counts"][n]["failed"])

    rows = [
        report.row("throughput_mbps", f"single-stream throughput (median of {plan['rounds']})", "MB/s",
                   v["throughput_mbps"], "higher"),
        report.row("rtt_idle_p50_ms", "64 B round trip p50, idle", "ms", v["rtt_idle_p50_ms"], "lower"),
        report.row("rtt_idle_p99_ms", "64 B round trip p99, idle", "ms", v["rtt_idle_p99_ms"], "lower"),
        report.row("rtt_loaded_p50_ms", "64 B RTT p50, 1 stream saturating", "ms", v["rtt_loaded_p50_ms"], "lower"),
        report.row("rtt_loaded_p99_ms", "64 B RTT p99, 1 stream saturating", "ms", v["rtt_loaded_p99_ms"], "lower"),
    ]
    for n in plan["levels"]:
        rows += [
            report.row(f"concurrent_{n}_mbps", f"{n} streams: aggregate", "MB/s", v[f"concurrent_{n}_mbps"], "higher"),
            report.row(f"concurrent_{n}_rtt_p99_ms", f"{n} streams: 64 B RTT p99", "ms",
                       v[f"concurrent_{n}_rtt_p99_ms"], "lower"),
            report.row(f"concurrent_{n}_errors", f"{n} streams: errors", "", v[f"concurrent_{n}_errors"], "lower"),
        ]
    for n in plan["agents"]:
        rows.append(report.row(f"idle_agent_rss_kb_{n}", f"gateway RSS per idle agent, {n} agents", "KB",
                               v[f"idle_agent_rss_kb_{n}"], "lower"))
    rows += [
        report.row("live_session_rss_kb", "gateway RSS per live session (idle)", "KB",
                   v["live_session_rss_kb"], "lower"),
        report.row("streaming_session_rss_kb", f"gateway RSS per streaming session ({max(plan['levels'])})", "KB",
                   v.get("streaming_session_rss_kb", {}), "lower"),
        report.row("cpu_relay_s_per_gb", "relay CPU per GB (all relay processes)", "s/GB",
                   v["cpu_relay_s_per_gb"], "lower"),
        report.row("cpu_gateway_s_per_gb", "  Ponte gateway CPU per GB", "s/GB", v["cpu_gateway_s_per_gb"], "lower"),
        report.row("cpu_agent_s_per_gb", "  Ponte agent CPU per GB", "s/GB", v["cpu_agent_s_per_gb"], "lower"),
        report.row("node_mbps_per_core", "server-side relay: MB/s per CPU core used", "MB/s",
                   v["node_mbps_per_core"], "higher"),
        report.row("first_byte_ms", f"ticket → first update byte, median of {plan['first']}", "ms",
                   v["first_byte_ms"], "lower"),
    ]
    by_key = {r["key"]: r for r in rows}
    goals = report.targets(by_key, plan["levels"], plan["agents"])
    return rows, goals, extra


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


if __name__ == "__main__":
    sys.exit(main())
