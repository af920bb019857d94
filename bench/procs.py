"""Child processes of a bench run, and what /proc says about them.

Every child is started in its own session (process group) and recorded, so
``Procs.stop_all()`` can end exactly what this run started — including
websockify's forked per-connection children — and nothing else.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def raise_nofile(want: int) -> int:
    """Raise RLIMIT_NOFILE (inherited by children started afterwards); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime+stime of ``pid`` (and its reaped children's if ``children``), in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    # fields[0] is state (field 3); utime is field 14 → index 11.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def child_pids(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(p) for p in fh.read().split()]
    except OSError:
        pass
    return out


def tree_rss(pid: int) -> int:
    """Resident memory of ``pid`` and its live children (a supervisor's workers, websockify's forks)."""
    total = rss_bytes(pid)
    for child in child_pids(pid):
        try:
            total += rss_bytes(child)
        except OSError:
            pass  # gone meanwhile
    return total


def tree_cpu(pid: int) -> float:
    """CPU of ``pid``, its reaped children and its live children (websockify forks)."""
    total = cpu_seconds(pid, children=True)
    for child in child_pids(pid):
        try:
            total += cpu_seconds(child, children=True)
        except OSError:
            pass
    return total


class Procs:
    """The processes one bench run started."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.started: list[subprocess.Popen] = []

    def spawn(self, name: str, argv: list[str], *, env: dict | None = None, cwd: Path = ROOT,
              stdin=subprocess.DEVNULL, stdout=None) -> subprocess.Popen:
        self.logdir.mkdir(parents=True, exist_ok=True)
        log = open(self.logdir / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin,
                                stdout=stdout if stdout is not None else log, stderr=log,
                                start_new_session=True)
        log.close()
        proc.bench_name = name
        proc.bench_group = True
        self.started.append(proc)
        return proc

    def adopt(self, proc: subprocess.Popen, name: str) -> subprocess.Popen:
        """Track a process started elsewhere (tests.support helpers)."""
        proc.bench_name = name
        self.started.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 5.0) -> None:
        own_group = getattr(proc, "bench_group", False)
        if proc.poll() is None:
            _signal(proc, signal.SIGTERM, own_group)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL, own_group)
                proc.wait(timeout)
        if own_group:  # leftovers in its group (websockify's per-connection children)
            _signal(proc, signal.SIGKILL, True)
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.started)):
            try:
                self.stop(proc)
            except Exception as exc:  # keep stopping the others
                print(f"bench: could not stop {getattr(proc, 'bench_name', proc.pid)}: {exc}", file=sys.stderr)


def _signal(proc: subprocess.Popen, sig: int, own_group: bool) -> None:
    """Signal ``proc``, or the whole process group it leads (pgid == its pid)."""
    try:
        if own_group:
            os.killpg(proc.pid, sig)
        elif proc.poll() is None:
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass
