"""macOS: a launchd job. System-wide a daemon in ``/Library/LaunchDaemons`` (root); ``--user``
an agent in ``~/Library/LaunchAgents``. The log is a file under ``Library/Logs/Ponte``."""

from __future__ import annotations

import plistlib
from pathlib import PurePath, PurePosixPath

from .parts import LAUNCHD_LABEL, FileOut, Layout, Program, Registration, Step, posix_places


def layout(user_scope: bool, *, home: PurePath | None, environ, root: PurePath | None) -> Layout:
    home, sys_path = posix_places(home, root)
    if user_scope:
        support = home / "Library" / "Application Support" / "Ponte"
        return Layout("darwin", True, support, support / "agent-service.toml", support,
                      home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist",
                      log_file=str(home / "Library" / "Logs" / "Ponte" / "agent.log"))
    return Layout("darwin", False, sys_path("/usr/local/ponte-agent"), sys_path("/usr/local/etc/ponte/agent.toml"),
                  sys_path("/usr/local/var/ponte-agent"),
                  sys_path(f"/Library/LaunchDaemons/{LAUNCHD_LABEL}.plist"),
                  log_file=str(sys_path("/Library/Logs/Ponte/agent.log")))


def _domain(layout: Layout, uid: int) -> str:
    return f"gui/{uid}" if layout.user_scope else "system"


def register(layout: Layout, run: list[str], program: Program, *, uid: int, user: str) -> Registration:
    """The plist, and ``launchctl`` taking out an older job before loading this one."""
    job = FileOut(layout.service_file, launchd_plist(layout, run, program.workdir), 0o644)
    domain = _domain(layout, uid)
    steps = (Step(("launchctl", "bootout", f"{domain}/{LAUNCHD_LABEL}"), may_fail=True),
             Step(("launchctl", "bootstrap", domain, str(layout.service_file))))
    return Registration(job, steps, (f"log: tail -f '{layout.log_file}'",))


def unregister(layout: Layout, *, uid: int) -> tuple[list[Step], list[Step]]:
    return [Step(("launchctl", "bootout", f"{_domain(layout, uid)}/{LAUNCHD_LABEL}"), may_fail=True)], []


def launchd_plist(layout: Layout, argv: list[str], workdir: PurePath | None) -> bytes:
    """A launchd job that starts at load (boot or login) and again if it exits with an error."""
    log_dir = PurePosixPath(layout.log_file).parent
    job = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": argv,
        "WorkingDirectory": str(workdir or layout.state_dir),
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        "RunAtLoad": True,
        # Exit 0 (stopped) stays stopped; 2 and 3 come back at most once a minute (ThrottleInterval).
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 60,
        "ProcessType": "Background",
        "Umask": 0o077,
        # Only what the agent prints before its log file is open (a broken configuration).
        "StandardErrorPath": str(log_dir / "agent-stderr.log"),
    }
    return plistlib.dumps(job)

