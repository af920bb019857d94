"""``python -m tests.fuzz.run [--seconds N] [--corpus DIR] [TARGET ...]``: run the fuzz targets.

Each target runs in its own process under atheris (libFuzzer, coverage-guided)
for ``--seconds``, starting from its seeds plus whatever corpus an earlier run
left in ``--corpus``. Those processes are forks of one that instrumented and
imported the parsers once (~5 CPU-s, which each target's own interpreter used
to pay again before fuzzing at all). Prints one line per target — executions, coverage
(edges), features, corpus size — and exits non-zero if any target crashed;
the crashing input is kept as ``crash-*`` in the target's corpus folder, to
replay with ``python -m tests.fuzz.run --replay FILE TARGET``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")


@dataclass(frozen=True)
class Result:
    target: str
    ok: bool
    execs: int
    coverage: int
    features: int
    corpus_files: int
    corpus_size: str
    detail: str


def children(spec_path: str) -> None:
    """The fuzzing process: instrument and import the parsers, then for each target of the spec
    (JSON: target, libFuzzer arguments, log file) fork a child that hands it to libFuzzer, one
    after another. Prints ``exit TARGET CODE`` for each."""
    import atheris

    from tests.fuzz import targets

    with atheris.instrument_imports(include=["agents.protocol", "gateway.nodebus", "gateway.api",
                                                   "gateway.signin.importer", "gateway.refs"]):
        targets.load()
    for job in json.loads(Path(spec_path).read_text()):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            try:
                atheris.Setup([sys.argv[0], *job["argv"]], targets.TARGETS[job["target"]][0])
                atheris.Fuzz()   # libFuzzer exits the process itself, with its own status
            finally:
                os._exit(70)
        print(f"exit {job['target']} {_wait(pid, job['timeout'])}", flush=True)


def _wait(pid: int, timeout: float) -> int:
    """The child's exit status (negative: the signal that ended it); killed after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def replay(target: str, path: str) -> None:
    from tests.fuzz import targets

    targets.load()
    targets.TARGETS[target][0](Path(path).read_bytes())
    print("no crash")


def run(names: list[str], seconds: int, corpus: Path, logs: Path) -> list[Result]:
    """Fuzz each target for ``seconds`` (seeded, corpus in ``corpus/TARGET``); one result each."""
    from tests.fuzz import targets

    targets.load()
    jobs = []
    for target in names:
        folder = corpus / target
        folder.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(targets.TARGETS[target][1]()):
            (folder / f"seed-{i}").write_bytes(seed)
        jobs.append({"target": target, "log": str(logs / f"{target}.log"), "timeout": seconds + 120,
                     "argv": [str(folder), f"-max_total_time={seconds}", "-print_final_stats=1", "-timeout=10",
                              "-rss_limit_mb=1024", f"-artifact_prefix={folder}/"]})
    spec = logs / "jobs.json"
    spec.write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, "-m", "tests.fuzz.run", "--children", str(spec)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120 + len(jobs) * (seconds + 120),
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    codes = dict(line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("exit "))
    results = []
    for job in jobs:
        log = Path(job["log"])
        out = log.read_text(errors="replace") if log.exists() else proc.stdout + proc.stderr
        stats = STATS.findall(out)
        execs, cov, ft, files, size = (int(stats[-1][0]), int(stats[-1][1]), int(stats[-1][2]),
                                       int(stats[-1][3]), stats[-1][4]) if stats else (0, 0, 0, 0, "0b")
        ok = codes.get(job["target"]) == "0"
        detail = "" if ok else _crash_summary(out + proc.stderr)
        results.append(Result(job["target"], ok, execs, cov, ft, files, size, detail))
    return results


def _crash_summary(out: str) -> str:
    lines = [line for line in out.splitlines()
             if "Error" in line or "Exception" in line or "crash-" in line or "Traceback" in line]
    return "\n".join(lines[-12:]) or out[-2000:]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--children"]:
        children(argv[1])
        return 0
    from tests.fuzz import targets

    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"default: all ({', '.join(targets.TARGETS)})")
    parser.add_argument("--seconds", type=int, default=10, help="per target (default 10)")
    parser.add_argument("--corpus", help="keep corpora here (default: a temporary folder)")
    parser.add_argument("--replay", metavar="FILE", help="run one input through one target")
    args = parser.parse_args(argv)
    names = args.targets or list(targets.TARGETS)
    unknown = set(names) - set(targets.TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if args.replay:
        replay(names[0], args.replay)
        return 0
    with tempfile.TemporaryDirectory(prefix="ponte-fuzz-") as tmp:
        corpus = Path(args.corpus) if args.corpus else Path(tmp)
        results = run(names, args.seconds, corpus, Path(tmp))
    print(f"{'target':<24} {'result':<7} {'execs':>10} {'cov':>6} {'ft':>6} {'corpus':>14}")
    for r in results:
        print(f"{r.target:<24} {'ok' if r.ok else 'CRASH':<7} {r.execs:>10} {r.coverage:>6} {r.features:>6} "
              f"{f'{r.corpus_files}/{r.corpus_size}':>14}")
        if r.detail:
            print("    " + r.detail.replace("\n", "\n    "))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
