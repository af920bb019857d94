"""``python -m bench recording [--quick] [--json FILE]``: what recording costs the relay (issue 15).

Two Ponte stacks side by side on 127.0.0.1, the same as ``python -m bench``'s
(Redis, a gateway, one agent, all serving one synthetic RFB target), one with
``recording`` off and one with it on (recordings written to the work folder on
this machine's disk). Rounds alternate the two, so background load hits both.

Figures per stack: single-stream throughput (median of the rounds, and each
round's pair with the load average; the client asks for 256×256 32 bpp Raw
updates as fast as they come: random pixels, which deflate cannot shrink, so
the recorder stores them as they are and writes as many bytes as it relays),
64-byte round trip p50/p99 while that stream saturates, gateway CPU per GB, and
for recording on: what the recorder wrote and whether it kept up (a
recording that could not keep up stops with a reason, never the session: the
throughput after that is not a recorded one, so the table says so).
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

from bench import measure  # noqa: E402
from bench.procs import Procs  # noqa: E402
from bench.stacks import PontePath, start_target, stop_ponte  # noqa: E402

FULL = dict(rounds=5, seconds=3.0, warmup=1.0, loaded_seconds=3.0)
QUICK = dict(rounds=1, seconds=0.5, warmup=0.2, loaded_seconds=0.5)
W, H = 256, 256


def log(msg: str) -> None:
    print(f"[bench recording {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def recordings(folder: Path) -> dict:
    """What the recorder wrote: files, bytes, and the reasons any recording stopped early."""
    from gateway.recording import format as fmt
    from gateway.recording.storage import FileReader

    out = {"files": 0, "bytes": 0, "raw_bytes": 0, "stopped": []}
    for path in sorted(folder.glob("*.prec")):
        reader = FileReader(path)
        try:
            parsed = fmt.scan(reader.read_at)
        finally:
            reader.close()
        out["files"] += 1
        out["bytes"] += path.stat().st_size
        out["raw_bytes"] += sum(e.raw_len for e in parsed.index)
        if parsed.ending and parsed.ending.get("stopped"):
            out["stopped"].append(parsed.ending["stopped"])
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench recording", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="ponte-bench-rec-"))
    folder = workdir / "recordings"
    procs = Procs(workdir / "logs")
    figures: dict = {}
    try:
        target = start_target(procs)
        stacks = {
            "off": PontePath(procs, workdir / "off", target),
            "on": PontePath(procs, workdir / "on", target,
                            env={"PONTE_RECORDING": "true", "PONTE_RECORDINGS_PATH": str(folder)}),
        }
        tput = {name: [] for name in stacks}
        cpu = {name: [0.0, 0] for name in stacks}
        p50 = {name: [] for name in stacks}
        p99 = {name: [] for name in stacks}
        pairs = []
        for r in range(plan["rounds"]):
            pair = {"load": os.getloadavg()[0]}
            for name, stack in stacks.items():
                log(f"recording {name}: throughput and loaded round trips, round {r + 1}/{plan['rounds']}")
                win = measure.throughput(stack, plan["seconds"], plan["warmup"], W, H)
                tput[name].append(win.mbps)
                pair[name] = win.mbps
                cpu[name][0] += win.cpu.get("gateway", 0.0)
                cpu[name][1] += win.total
                win = measure.loaded(stack, 1, plan["loaded_seconds"], plan["warmup"], W, H)
                p50[name].append(measure.pct(win.rtts, 50) * 1e3)
                p99[name].append(measure.pct(win.rtts, 99) * 1e3)
                pair[f"p99_{name}"] = p99[name][-1]
            pairs.append(pair)
        for name, stack in stacks.items():
            figures[name] = {"throughput_mbps": measure.median(tput[name]), "rounds_mbps": tput[name],
                             "rtt_loaded_p50_ms": measure.median(p50[name]),
                             "rtt_loaded_p99_ms": measure.median(p99[name]),
                             "gateway_cpu_s_per_gb": cpu[name][0] / (cpu[name][1] / 1e9) if cpu[name][1] else None}
            stop_ponte(procs, stack)
        time.sleep(1.0)  # the recorder finishes its files when the gateway stops
        figures["on"]["recorded"] = recordings(folder)
        figures["pairs"] = pairs
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    off, on = figures["off"], figures["on"]
    rec = on["recorded"]
    print(f"{'':34}{'recording off':>14}{'recording on':>14}{'on/off':>8}")
    for key, label in (("throughput_mbps", "single-stream throughput, MB/s"),
                       ("rtt_loaded_p50_ms", "64 B RTT p50 while streaming, ms"),
                       ("rtt_loaded_p99_ms", "64 B RTT p99 while streaming, ms"),
                       ("gateway_cpu_s_per_gb", "gateway CPU, s/GB")):
        a, b = off[key], on[key]
        print(f"{label:34}{a:14.2f}{b:14.2f}{(b / a if a else float('nan')):8.2f}")
    print("\neach round, off then on (the machine's 1-minute load average as it began):")
    for i, pair in enumerate(figures["pairs"], 1):
        print(f"  round {i}: load {pair['load']:5.1f}  {pair['off']:7.1f} → {pair['on']:7.1f} MB/s "
              f"({pair['on'] / pair['off']:.2f}), p99 {pair['p99_off']:.2f} → {pair['p99_on']:.2f} ms")
    print(f"\nrecorded: {rec['files']} files, {rec['raw_bytes'] / 1e6:.0f} MB of records in "
          f"{rec['bytes'] / 1e6:.0f} MB on disk; stopped early: {len(rec['stopped'])}"
          + (f" ({rec['stopped'][0]})" if rec["stopped"] else ""))
    print(f"python -m bench recording{' --quick' if args.quick else ''}: rounds {plan['rounds']} × "
          f"{plan['seconds']} s; client, target, gateways and agents share this machine's CPUs.")
    if args.json:
        Path(args.json).write_text(json.dumps({"plan": plan, "figures": figures}, indent=2))
    return 0
