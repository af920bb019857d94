"""``python -m tests.fuzz.run [--seconds N] [--corpus DIR] [TARGET ...]``: run the fuzz targets.

Each target runs in its own process under atheris (libFuzzer, coverage-guided)
for ``--seconds``, starting from its seeds plus whatever corpus an earlier run
left in ``--corpus``. Prints one line per target — executions, coverage
(edges), features, corpus size — and exits non-zero if any target crashed;
the crashing input is kept as ``crash-*`` in the target's corpus folder, to
replay with ``python -m tests.fuzz.run --replay FILE TARGET``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
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


def child(target: str, argv: list[str]) -> None:
    """Inside the fuzzing process: instrument the parsers, hand the target to libFuzzer."""
    import atheris

    from tests.fuzz import targets

    with atheris.instrument_imports(include=["agents.protocol", "gateway.nodebus", "gateway.api",
                                                   "gateway.signin.importer", "gateway.refs"]):
        targets.load()
    fn, _seeds = targets.TARGETS[target]
    atheris.Setup([sys.argv[0], *argv], fn)
    atheris.Fuzz()


def replay(target: str, path: str) -> None:
    from tests.fuzz import targets

    targets.load()
    targets.TARGETS[target][0](Path(path).read_bytes())
    print("no crash")


def run(target: str, seconds: int, corpus: Path) -> Result:
    from tests.fuzz import targets

    folder = corpus / target
    folder.mkdir(parents=True, exist_ok=True)
    targets.load()
    for i, seed in enumerate(targets.TARGETS[target][1]()):
        (folder / f"seed-{i}").write_bytes(seed)
    cmd = [sys.executable, "-m", "tests.fuzz.run", "--child", target, "--",
           str(folder), f"-max_total_time={seconds}", "-print_final_stats=1", "-timeout=10",
           "-rss_limit_mb=1024", f"-artifact_prefix={folder}/"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = proc.stdout + proc.stderr
    stats = STATS.findall(out)
    execs, cov, ft, files, size = (int(stats[-1][0]), int(stats[-1][1]), int(stats[-1][2]),
                                   int(stats[-1][3]), stats[-1][4]) if stats else (0, 0, 0, 0, "0b")
    ok = proc.returncode == 0
    detail = "" if ok else _crash_summary(out)
    return Result(target, ok, execs, cov, ft, files, size, detail)


def _crash_summary(out: str) -> str:
    lines = [line for line in out.splitlines()
             if "Error" in line or "Exception" in line or "crash-" in line or "Traceback" in line]
    return "\n".join(lines[-12:]) or out[-2000:]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
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
        results = [run(name, args.seconds, corpus) for name in names]
    print(f"{'target':<24} {'result':<7} {'execs':>10} {'cov':>6} {'ft':>6} {'corpus':>14}")
    for r in results:
        print(f"{r.target:<24} {'ok' if r.ok else 'CRASH':<7} {r.execs:>10} {r.coverage:>6} {r.features:>6} "
              f"{f'{r.corpus_files}/{r.corpus_size}':>14}")
        if r.detail:
            print("    " + r.detail.replace("\n", "\n    "))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
