"""What a service plan is made of: where things go (``Layout``), how the agent is started
(``Program``), files, commands, and the ``Plan`` that lists them; the names every OS shares.

Data only: ``plan`` fills these in, the OS modules add their own pieces, ``apply`` carries
them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

ARCHIVE_NAME = "ponte-agent.pyz"
SERVICE_NAME = "ponte-agent"
LAUNCHD_LABEL = "com.ponte.agent"
TASK_NAME = "Ponte Agent"
LINUX_ACCOUNT = "ponte-agent"
#: Exit codes, as agents/__main__.py defines them (imported from there would load it twice under -m).
EXIT_CONFIG = 2
EXIT_REFUSED = 3
#: Well-known SIDs, not names: "Administrators" is "Administratoren" on a German Windows.
WINDOWS_SYSTEM_SID = "S-1-5-18"
WINDOWS_ADMINS_SID = "S-1-5-32-544"


@dataclass(frozen=True)
class Layout:
    """Where the service's pieces go on one OS, system-wide or for one user."""

    system: str                 # "linux", "darwin", "win32"
    user_scope: bool
    program_dir: PurePath       # the copy of ponte-agent.pyz
    config_path: PurePath       # the agent.toml the service runs with
    state_dir: PurePath         # credential, VNC password, copied CA files
    service_file: PurePath      # unit, plist or task XML
    log_file: str = ""          # "" where the service manager keeps the log (journald)
    account: str = ""           # the Linux system service's own account

    @property
    def credential(self) -> PurePath:
        return self.state_dir / "credential"

    @property
    def vnc_password_file(self) -> PurePath:
        return self.state_dir / "vnc-password"



@dataclass(frozen=True)
class Program:
    """How the service starts the agent: ``python ARCHIVE`` or ``python -m agents`` in ``workdir``."""

    python: str
    archive: PurePath | None = None     # the installed copy of ponte-agent.pyz
    workdir: PurePath | None = None     # for -m agents: the folder holding the package

    def argv(self, *args: str) -> list[str]:
        head = [self.python, str(self.archive)] if self.archive else [self.python, "-m", "agents"]
        return head + list(args)


@dataclass(frozen=True)
class FileOut:
    path: PurePath
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Step:
    """A command to run. ``may_fail``: its failure is expected (stopping what is not running)."""

    argv: tuple[str, ...]
    may_fail: bool = False
    #: Run only when this account does not exist yet (Linux ``useradd``).
    unless_account: str = ""


@dataclass(frozen=True)
class Plan:
    copies: tuple[tuple[PurePath, PurePath, int], ...] = ()   # (source, destination, mode)
    files: tuple[FileOut, ...] = ()
    folders: tuple[PurePath, ...] = ()                        # created 0700 first
    first_steps: tuple[Step, ...] = ()                        # then these, before any file is written
    steps: tuple[Step, ...] = ()
    removals: tuple[PurePath, ...] = ()                       # files or folders, before the steps that follow
    after_removal: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registration:
    """An OS's part of an install: its service file, the commands that register and start it
    (``first_steps`` before any file is written), and what to tell (where the log is)."""

    service_file: FileOut
    steps: tuple[Step, ...]
    notes: tuple[str, ...]
    first_steps: tuple[Step, ...] = ()


def posix_places(home: PurePath | None, root: PurePath | None):
    """The home folder (this account's unless given) and a function mapping a system path under
    ``root`` (tests) or ``/``."""
    home = PurePosixPath(home if home is not None else Path.home())
    base = PurePosixPath(root) if root is not None else PurePosixPath("/")

    def sys_path(p: str) -> PurePosixPath:
        return base / p.lstrip("/")

    return home, sys_path
