"""``python -m bench recording [--quick] [--json FILE]``: what recording costs the relay (issue 15).

Two Ponte stacks side by side on 127.0.0.1, the same as ``python -m bench``'s
(Redis, a gateway, one agent, all serving one synthetic RFB target), one with
``recording`` off and one with it on (recordings written to ``--folder``,
default a folder of the bench's own on this machine's disk). Rounds alternate
which goes first, so background load hits both.

The client asks for 256×256 32 bpp Raw updates of random pixels as fast as they
come, which deflate cannot shrink, so the recorder stores them and writes as
many bytes as the relay moves. Where the folder's disk writes slower than the
unrecorded relay moves (on 2026-12-02's machine, ``O_DIRECT`` writes of 330–540
MB/s against a stream of ~750 MB/s; on 2026-12-03's the disk took 1.6–1.8 GB/s),
no recorder keeps that stream whole at full speed, so the folder's own write
speed is measured in the same run (``storage.FileSink``, as the recorder writes)
and printed beside the figures.

Three phases a round, each on both stacks:

* saturated: one stream as fast as the client reads (bound by the disk where it is the slower);
* paced: one stream the client reads at ``--rate`` (default half what the folder
  took, rounded to 10 MB/s), as a viewer on a slower link would: TCP's flow
  control paces the relay, so this is what recording costs where the disk keeps up;
* office: ``bench office``'s load on a pair of stacks of its own (its target,
  ``office_agents`` agents): ``office_sessions`` sessions (50), each ~250 KB/s
  of screen in 100 KB bursts of random bytes and a keystroke every 200 ms whose
  echo comes back behind the screen: the load an office's gateway serves.

Figures per stack and phase: throughput (median of the rounds, and each round's
figures with the load average), the echo round trip p50/p99 while the streams run
(64 bytes on a session of its own; in the office phase, each session's keystrokes),
gateway CPU per GB, errors, and for recording
on: what the recorder wrote and whether it kept up (a recording that could not
keep up stops with a reason, never the session: the throughput after that is
not a recorded one, so the table says so).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import measure, office  # noqa: E402
from bench.procs import Procs  # noqa: E402
from bench.stacks import PontePath, start_target, stop_ponte  # noqa: E402

FULL = dict(rounds=5, seconds=3.0, warmup=1.0, loaded_seconds=3.0, medium_mb=1024,
            office_sessions=50, office_agents=2, office_seconds=8.0)
QUICK = dict(rounds=1, seconds=0.5, warmup=0.2, loaded_seconds=0.5, medium_mb=64,
             office_sessions=4, office_agents=1, office_seconds=1.0)
W, H = 256, 256
#: The paced stream's share of what the folder takes (measured first): a rate it can hold.
PACE_SHARE = 0.5
#: How long a round waits for the gateways to finish the files of the sessions it closed.
FINISH_TIMEOUT = 15.0


def log(msg: str) -> None:
    print(f"[bench recording {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _scan(path: Path):
    from gateway.recording import format as fmt
    from gateway.recording.storage import FileReader

    reader = FileReader(path)
    try:
        return fmt.scan(reader.read_at)
    finally:
        reader.close()


def collect(folder: Path, into: dict) -> None:
    """Add the finished recordings in ``folder`` to ``into``, then delete them (a round writes GBs).

    Waits for every file to have its end block: the gateway finishes a file just after its
    session closes."""
    deadline = time.monotonic() + FINISH_TIMEOUT
    while True:
        paths = sorted(folder.glob("*.prec"))
        parsed = [_scan(p) for p in paths]
        if all(p.ending is not None for p in parsed) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for path, found in zip(paths, parsed):
        into["files"] += 1
        into["bytes"] += path.stat().st_size
        into["raw_bytes"] += sum(e.raw_len for e in found.index)
        if found.ending is None:
            into["unfinished"] += 1
        elif found.ending.get("stopped"):
            into["stopped"].append(found.ending["stopped"])
        path.unlink()


def write_speed(folder: Path, mb: int) -> float:
    """MB/s that ``folder`` takes from the recorder's own sink (4 MiB writes of random bytes)."""
    from gateway.recording.storage import FileSink

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "speed.tmp"
    piece = os.urandom(4 * 1024 * 1024)
    sink = FileSink(path)
    try:
        t0 = time.perf_counter()
        for _ in range(max(1, mb // 4)):
            sink.write(piece)
        elapsed = time.perf_counter() - t0
    finally:
        sink.close()
        path.unlink()
    return max(1, mb // 4) * len(piece) / elapsed / 1e6


def _tally() -> dict:
    return {"files": 0, "bytes": 0, "raw_bytes": 0, "stopped": [], "unfinished": 0}


def _stacks(procs: Procs, workdir: Path, target: int, folder: Path, **options) -> dict:
    recording = {"PONTE_RECORDING": "true", "PONTE_RECORDINGS_PATH": str(folder)}
    env = options.pop("env", {})
    return {"off": PontePath(procs, workdir / "off", target, env=env, **options),
            "on": PontePath(procs, workdir / "on", target, env={**env, **recording}, **options)}


def _order(r: int) -> list[str]:
    return ["off", "on"] if r % 2 == 0 else ["on", "off"]  # neither always first


def stream_phases(stacks: dict, plan: dict, phases: dict, folder: Path, got: dict, recorded: dict,
                  rounds: list) -> None:
    """The saturated and paced phases: per round and stack, the stream alone, then beside the probe."""
    for r in range(plan["rounds"]):
        one = rounds[r]
        one["load"] = os.getloadavg()[0]
        for phase, pace in phases.items():
            for name in one["order"]:
                stack, mine = stacks[name], got[phase][name]
                log(f"recording {name}, {phase}: throughput and loaded round trips, round {r + 1}/{plan['rounds']}")
                win = measure.throughput(stack, plan["seconds"], plan["warmup"], W, H, rate=pace)
                mine["mbps"].append(win.mbps)
                mine["cpu"] += win.cpu.get("gateway", 0.0)
                mine["bytes"] += win.total
                one[f"{phase}_{name}"] = win.mbps
                win = measure.loaded(stack, 1, plan["loaded_seconds"], plan["warmup"], W, H, rate=pace)
                mine["errors"] += win.errors
                mine["p50"].append(measure.pct(win.rtts, 50) * 1e3)
                mine["p99"].append(measure.pct(win.rtts, 99) * 1e3)
                one[f"{phase}_p99_{name}"] = mine["p99"][-1]
            collect(folder, recorded[phase])


def office_phase(stacks: dict, plan: dict, folder: Path, got: dict, recorded: dict, rounds: list) -> None:
    """The office phase: ``bench office``'s load (bursty screens, a keystroke every 200 ms) on each stack."""
    load = {"sessions": plan["office_sessions"], "warmup": plan["warmup"], "seconds": plan["office_seconds"]}
    for r in range(plan["rounds"]):
        one = rounds[r]
        one["office_load"] = os.getloadavg()[0]
        for name in one["order"]:
            mine = got[name]
            log(f"recording {name}, office: {load['sessions']} sessions, round {r + 1}/{plan['rounds']}")
            result = office.measure_path(stacks[name], load)
            mine["mbps"].append(result["screen_mbps"])
            mine["cpu"] += result["cpu_seconds"].get("gateway", 0.0)
            mine["bytes"] += result["screen_mbps"] * load["seconds"] * 1e6
            mine["errors"] += result["errors"]
            mine["p50"].append(measure.pct(result["rtts"], 50) * 1e3)
            mine["p99"].append(measure.pct(result["rtts"], 99) * 1e3)
            mine.setdefault("rss", []).append(result["memory"].get("gateway", {}).get("rss", 0))
            one[f"office_{name}"] = result["screen_mbps"]
            one[f"office_p99_{name}"] = mine["p99"][-1]
        collect(folder, recorded)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench recording", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--folder", type=Path, help="where the recordings go (default: the bench's work folder)")
    parser.add_argument("--rate", type=float, help="the paced stream, MB/s (default: half what the folder takes)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="ponte-bench-rec-"))
    own = args.folder is None
    folder = workdir / "recordings" if own else Path(tempfile.mkdtemp(prefix="ponte-bench-rec-", dir=args.folder))
    procs = Procs(workdir / "logs")
    figures: dict = {}
    try:
        speeds = [write_speed(folder, plan["medium_mb"])]
        rate = args.rate or max(10, round(speeds[0] * PACE_SHARE / 10) * 10)
        log(f"the folder takes {speeds[0]:.0f} MB/s; the paced stream: {rate:.0f} MB/s")
        phases = {"saturated": None, "paced": rate * 1e6}  # the client's reading pace, bytes/s
        got = {phase: {name: {"mbps": [], "cpu": 0.0, "bytes": 0, "p50": [], "p99": [], "errors": 0}
                       for name in ("off", "on")}
               for phase in (*phases, "office")}
        recorded = {phase: _tally() for phase in got}
        rounds = [{"order": _order(r)} for r in range(plan["rounds"])]
        stacks = _stacks(procs, workdir / "stream", start_target(procs), folder)
        stream_phases(stacks, plan, phases, folder, got, recorded, rounds)
        for stack in stacks.values():
            stop_ponte(procs, stack)
        n = plan["office_sessions"]
        stacks = _stacks(procs, workdir / "office", office.start_office_target(procs), folder,
                         agents=plan["office_agents"], users=n // 25 + 2,
                         env={"PONTE_MAX_CONNECTIONS_PER_IP": str(4 * n + 256)})
        office_phase(stacks, plan, folder, got["office"], recorded["office"], rounds)
        for stack in stacks.values():
            stop_ponte(procs, stack)
        collect(folder, _tally())  # any finished late
        speeds.append(write_speed(folder, plan["medium_mb"]))
        for phase in got:
            figures[phase] = {name: {"throughput_mbps": measure.median(m["mbps"]), "rounds_mbps": m["mbps"],
                                     "rtt_loaded_p50_ms": measure.median(m["p50"]),
                                     "rtt_loaded_p99_ms": measure.median(m["p99"]),
                                     "gateway_cpu_s_per_gb": m["cpu"] / (m["bytes"] / 1e9) if m["bytes"] else None,
                                     "errors": m["errors"],
                                     **({"gateway_rss_mb": measure.median(m["rss"]) / 1e6} if "rss" in m else {})}
                              for name, m in got[phase].items()}
            figures[phase]["on"]["recorded"] = recorded[phase]
            figures[phase]["ratio_median"] = measure.median(
                [one[f"{phase}_on"] / one[f"{phase}_off"] for one in rounds])
        figures["paced_mbps"] = rate
        figures["office_sessions"] = n
        figures["folder_write_mbps"] = speeds
        figures["rounds"] = rounds
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        if not own:
            shutil.rmtree(folder, ignore_errors=True)
    report(figures, plan, args.quick)
    if args.json:
        Path(args.json).write_text(json.dumps({"plan": plan, "figures": figures}, indent=2))
    return 0


def report(figures: dict, plan: dict, quick: bool) -> None:
    speeds = figures["folder_write_mbps"]
    sessions = figures["office_sessions"]
    for phase, title in (("saturated", "a saturated stream (as fast as the client reads)"),
                         ("paced", f"a stream paced at {figures['paced_mbps']:.0f} MB/s by the client's reading"),
                         ("office", f"office load (bench office's): {sessions} sessions, ~250 KB/s of screen each "
                                    "in 100 KB bursts, a keystroke every 200 ms, its echo timed")):
        off, on = figures[phase]["off"], figures[phase]["on"]
        print(f"{title}:\n{'':40}{'recording off':>14}{'recording on':>14}{'on/off':>8}")
        probe = "keystroke echo" if phase == "office" else "64 B RTT"
        for key, label in (("throughput_mbps", "screen delivered, MB/s" if phase == "office" else "throughput, MB/s"),
                           ("rtt_loaded_p50_ms", f"{probe} p50 while streaming, ms"),
                           ("rtt_loaded_p99_ms", f"{probe} p99 while streaming, ms"),
                           ("gateway_cpu_s_per_gb", "gateway CPU, s/GB"),
                           ("gateway_rss_mb", "gateway RSS, MB"),
                           ("errors", "errors")):
            if key not in off:
                continue
            a, b = off[key], on[key]
            if key == "errors":
                print(f"{label:40}{a:14d}{b:14d}")
            else:
                print(f"{label:40}{a:14.2f}{b:14.2f}{(b / a if a else float('nan')):8.2f}")
        print(f"{'each round on/off, median':40}{'':28}{figures[phase]['ratio_median']:8.2f}")
        rec = on["recorded"]
        print(f"recorded: {rec['files']} files, {rec['raw_bytes'] / 1e6:.0f} MB of records in "
              f"{rec['bytes'] / 1e6:.0f} MB on disk; stopped early: {len(rec['stopped'])}"
              + (f" ({rec['stopped'][0]})" if rec["stopped"] else "")
              + (f"; unfinished: {rec['unfinished']}" if rec["unfinished"] else "") + "\n")
    print("each round, in the order measured (the machine's 1-minute load average as it began):")
    for i, one in enumerate(figures["rounds"], 1):
        print(f"  round {i}: load {one['load']:5.1f}  "
              + "; ".join(f"{phase} {one[phase + '_off']:.1f} → {one[phase + '_on']:.1f} MB/s, "
                          f"p99 {one[phase + '_p99_off']:.2f} → {one[phase + '_p99_on']:.2f} ms"
                          for phase in ("saturated", "paced", "office"))
              + ("" if one["order"][0] == "off" else "  (on first)"))
    slower = max(speeds) < figures["saturated"]["off"]["throughput_mbps"]
    print(f"\nthe folder took {speeds[0]:.0f} MB/s before the rounds and {speeds[1]:.0f} after (4 MiB direct writes)"
          + (": slower than the unrecorded saturated stream, which cannot be recorded whole at that speed here"
             if slower else ""))
    print(f"python -m bench recording{' --quick' if quick else ''}: rounds {plan['rounds']} × "
          f"{plan['seconds']} s a phase; client, target, gateways and agents share this machine's CPUs.")
