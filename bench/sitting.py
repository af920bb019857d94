"""One sitting of a bench suite: its folder, its processes, its clock and the machine's load.

Every suite (``storm``, ``signup``, ``office``, ``wan``) starts the same way
(a folder, kept with ``--workdir`` or else removed; a ``Procs`` that stops
everything it started, also on SIGTERM) and ends the same way (a command
line that reproduces the run, the time and load it ran under, JSON if
asked), so that part is here once::

    with Sitting("storm", args.workdir) as sitting:
        fig = run(sitting.procs, sitting.workdir, plan)
    command = sitting.command("python -m bench storm", args, ("logins", "seconds"))
    print(f"{command}: {sitting.footer()} (...)")
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .procs import Procs

__all__ = ["Sitting"]


class Sitting:
    """A context manager around one run; ``procs`` and ``workdir`` are valid inside it."""

    def __init__(self, name: str, workdir: str | None = None):
        self.keep = workdir is not None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"ponte-{name}-"))
        self.procs: Procs | None = None
        self.started = self.ended = 0.0
        self.load_start = self.load_end = (0.0, 0.0, 0.0)

    def __enter__(self) -> "Sitting":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.procs = Procs(self.workdir / "logs")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        self.started, self.load_start = time.monotonic(), os.getloadavg()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.procs.stop_all()
        finally:
            self.ended, self.load_end = time.monotonic(), os.getloadavg()
            if not self.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def seconds(self) -> float:
        return round((self.ended or time.monotonic()) - self.started, 1)

    @staticmethod
    def command(prog: str, args, options=()) -> str:
        """The command line that asks for this run again: ``--quick`` and the options given."""
        given = [f" --{key.replace('_', '-')} {getattr(args, key)}" for key in options
                 if getattr(args, key, None) is not None]
        return prog + (" --quick" if getattr(args, "quick", False) else "") + "".join(given)

    def meta(self, command: str, **extra) -> dict:
        """What a JSON file records of the run besides its figures."""
        return {"command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
                "cpus": os.cpu_count(), "python": platform.python_version(), "seconds": self.seconds,
                "loadavg_start": self.load_start, "loadavg_end": self.load_end, **extra}

    def footer(self) -> str:
        """How long the run took and under what load (1-minute averages)."""
        return (f"{self.seconds} s on {os.cpu_count()} CPUs; load average {self.load_start[0]:.1f} at start, "
                f"{self.load_end[0]:.1f} at end")

