"""``ponte-agent install`` / ``uninstall``: run the agent as the OS's own service.

System-wide (the default; needs root, or an Administrator PowerShell):

- Linux: systemd unit ``/etc/systemd/system/ponte-agent.service``, running as
  the account ``ponte-agent`` (created), sandboxed;
- macOS: launchd daemon ``/Library/LaunchDaemons/com.ponte.agent.plist`` (root);
- Windows: scheduled task "Ponte Agent" at boot as SYSTEM (``schtasks /Create /XML``);
  no pywin32 service: the task needs nothing beyond Python.

``--user`` (this account, no root): a systemd user unit
(``~/.config/systemd/user/``) or a launchd agent (``~/Library/LaunchAgents/``).

Install copies the running ``ponte-agent.pyz`` (or, for an installed package,
runs ``python -m agents``) to a fixed place, enrols with ``--code`` straight
into the service's credential file (or copies the credential ``enroll`` made),
writes the VNC password to a file of its own (0600) and an ``agent.toml`` with
the settings given now, then registers and starts the service, and says where
everything went and how to read the log.

Planning is pure: ``plan_install``/``plan_uninstall`` turn a ``Layout`` and the
settings into a ``Plan`` (files with contents and modes, commands, what to
tell), which tests check by content for every OS on any OS. ``apply`` does the
I/O; ``--dry-run`` prints the plan instead. Uninstall removes the service and
the program copy, and keeps credential and configuration unless ``--purge``.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from xml.sax.saxutils import escape

from .config import FIELDS, AgentSettings, ConfigError

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

#: Settings that install writes itself (files of the service's own) or leaves to the credential file.
_MANAGED = {"credential_file", "vnc_password", "vnc_password_file", "gateway", "log_file"}
#: Settings naming files the service must read: copied next to the credential, where it may read them.
_COPIED_FILES = ("ca_bundle", "vnc_ca_file")


class ServiceError(Exception):
    """Install or uninstall cannot go on (not root, no credential, unsupported OS)."""


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


def current_system() -> str:
    if sys.platform == "win32":
        return "win32"
    if sys.platform == "darwin":
        return "darwin"
    if sys.platform.startswith("linux"):
        return "linux"
    raise ServiceError(f"no service manager known for {sys.platform}: run 'ponte-agent run' from its own "
                       f"start-up mechanism")


def layout_for(system: str, user_scope: bool, home: PurePath | None = None, environ=None,
               root: PurePath | None = None) -> Layout:
    """The standard places; ``root`` prefixes every system path (tests)."""
    environ = os.environ if environ is None else environ
    if system == "win32":
        if user_scope:
            raise ServiceError("--user is not offered on Windows: run an Administrator PowerShell, "
                               "without --user, for a task that starts at boot")
        programs = PureWindowsPath(environ.get("ProgramFiles", r"C:\Program Files"))
        data = PureWindowsPath(environ.get("ProgramData", r"C:\ProgramData")) / "Ponte"
        return Layout(system, False, programs / "Ponte", data / "agent.toml", data,
                      data / "ponte-agent-task.xml", log_file=str(data / "agent.log"))
    home = PurePosixPath(home if home is not None else Path.home())
    base = PurePosixPath(root) if root is not None else PurePosixPath("/")

    def sys_path(p: str) -> PurePosixPath:
        return base / p.lstrip("/")

    if system == "linux":
        if user_scope:
            config = PurePosixPath(environ.get("XDG_CONFIG_HOME") or home / ".config")
            data = PurePosixPath(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
            return Layout(system, True, data / SERVICE_NAME, config / "ponte" / "agent-service.toml",
                          config / "ponte", config / "systemd" / "user" / f"{SERVICE_NAME}.service")
        return Layout(system, False, sys_path("/opt/ponte-agent"), sys_path("/etc/ponte/agent.toml"),
                      sys_path("/var/lib/ponte-agent"), sys_path(f"/etc/systemd/system/{SERVICE_NAME}.service"),
                      account=LINUX_ACCOUNT)
    if system == "darwin":
        if user_scope:
            support = home / "Library" / "Application Support" / "Ponte"
            return Layout(system, True, support, support / "agent-service.toml", support,
                          home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist",
                          log_file=str(home / "Library" / "Logs" / "Ponte" / "agent.log"))
        return Layout(system, False, sys_path("/usr/local/ponte-agent"), sys_path("/usr/local/etc/ponte/agent.toml"),
                      sys_path("/usr/local/var/ponte-agent"),
                      sys_path(f"/Library/LaunchDaemons/{LAUNCHD_LABEL}.plist"),
                      log_file=str(sys_path("/Library/Logs/Ponte/agent.log")))
    raise ServiceError(f"unknown system {system!r}")


@dataclass(frozen=True)
class Program:
    """How the service starts the agent: ``python ARCHIVE`` or ``python -m agents`` in ``workdir``."""

    python: str
    archive: PurePath | None = None     # the installed copy of ponte-agent.pyz
    workdir: PurePath | None = None     # for -m agents: the folder holding the package

    def argv(self, *args: str) -> list[str]:
        head = [self.python, str(self.archive)] if self.archive else [self.python, "-m", "agents"]
        return head + list(args)


def running_archive() -> Path | None:
    """The ``.pyz`` this agent runs from, or ``None`` when it is a package on disk."""
    package = Path(os.path.abspath(__file__)).parent
    candidate = package.parent
    return candidate if candidate.is_file() else None


def service_python(system: str, executable: str | None = None) -> str:
    """The interpreter the service runs: this one (on Windows its console-less ``pythonw.exe``)."""
    python = executable or sys.executable
    if system == "win32":
        win = PureWindowsPath(python)
        if win.name.lower() == "python.exe" and Path(str(win.with_name("pythonw.exe"))).exists():
            return str(win.with_name("pythonw.exe"))
    return python


# -- the plan -----------------------------------------------------------------------------------

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


def toml_config(values: dict) -> str:
    """An ``agent.toml`` of ``values`` (strings, ints, floats, bools) in the ``[agent]`` table."""
    lines = ["# Written by 'ponte-agent install'; every key: config/agent.toml in Ponte.", "[agent]"]
    for key in sorted(values):
        value = values[key]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            # A JSON string without \u escapes is a TOML basic string (same escapes for the rest).
            text = json.dumps(str(value), ensure_ascii=False)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def service_settings(settings: AgentSettings, layout: Layout, *, has_password: bool,
                     keep_gateway: bool) -> dict:
    """The settings the service's ``agent.toml`` holds: those given now that differ from the defaults."""
    defaults = AgentSettings()
    out = {name: getattr(settings, name) for name in FIELDS
           if name not in _MANAGED and getattr(settings, name) != getattr(defaults, name)}
    out["credential_file"] = str(layout.credential)
    if has_password:
        out["vnc_password_file"] = str(layout.vnc_password_file)
    if keep_gateway and settings.gateway:
        out["gateway"] = settings.gateway
    log_file = settings.log_file or layout.log_file
    if log_file:
        out["log_file"] = log_file
    for name in _COPIED_FILES:
        if out.get(name):
            out[name] = str(layout.state_dir / f"{name.replace('_', '-')}.pem")
    return out


#: ``vnc_password`` for a re-install that was given none: keep the service's password file as it is.
KEEP = "\0keep"


def plan_install(layout: Layout, settings: AgentSettings, program: Program, *, source_archive: PurePath | None,
                 source_credential: PurePath | None, vnc_password: str | None, keep_gateway: bool,
                 uid: int = 0, user: str = "") -> Plan:
    """Everything install does, as data. ``source_credential`` None: enrolment writes it in place
    (or the service's own is kept). ``vnc_password`` None: the VNC server has none; ``KEEP``: keep the file."""
    copies, files = [], []
    if source_archive is not None and source_archive != program.archive:
        copies.append((source_archive, program.archive, 0o644))
    if source_credential is not None and source_credential != layout.credential:
        copies.append((source_credential, layout.credential, 0o600))
    for name in _COPIED_FILES:
        value = getattr(settings, name)
        if value:
            copies.append((PurePath(value), layout.state_dir / f"{name.replace('_', '-')}.pem", 0o600))
    if vnc_password is not None and vnc_password is not KEEP:
        files.append(FileOut(layout.vnc_password_file, (vnc_password + "\n").encode("utf-8"), 0o600))
    config = service_settings(settings, layout, has_password=vnc_password is not None, keep_gateway=keep_gateway)
    files.append(FileOut(layout.config_path, toml_config(config).encode("utf-8"), 0o644))
    run = program.argv("run", "--config", str(layout.config_path))
    status = program.argv("status", "--config", str(layout.config_path))
    folders, first = [layout.state_dir], []
    if layout.log_file:
        folders.append(PurePath(layout.log_file).parent)
    if layout.system == "linux":
        files.append(FileOut(layout.service_file, systemd_unit(layout, run, program.workdir).encode(), 0o644))
        steps, notes = _systemd_install_steps(layout, user)
        notes = [f"log: journalctl{' --user' if layout.user_scope else ''} -u {SERVICE_NAME} -f", *notes]
        if not layout.user_scope and program.python.startswith(("/home/", "/root/")):
            notes.append(f"note: the service runs as {layout.account}, which may not be allowed into the home "
                         f"folder of {program.python}; if it does not start, install with the system's "
                         f"/usr/bin/python3")
    elif layout.system == "darwin":
        files.append(FileOut(layout.service_file, launchd_plist(layout, run, program.workdir), 0o644))
        domain = f"gui/{uid}" if layout.user_scope else "system"
        steps = [Step(("launchctl", "bootout", f"{domain}/{LAUNCHD_LABEL}"), may_fail=True),
                 Step(("launchctl", "bootstrap", domain, str(layout.service_file)))]
        notes = [f"log: tail -f '{layout.log_file}'"]
    else:
        files.append(FileOut(layout.service_file, windows_task_xml(layout, run), 0o644))
        # Before the credential is written into it: files inherit the folder's ACL when created.
        first = [Step(("icacls", str(layout.state_dir), "/inheritance:r", "/grant:r",
                       f"*{WINDOWS_SYSTEM_SID}:(OI)(CI)F", f"*{WINDOWS_ADMINS_SID}:(OI)(CI)F"))]
        steps = [Step(("schtasks", "/End", "/TN", TASK_NAME), may_fail=True),
                 Step(("schtasks", "/Create", "/TN", TASK_NAME, "/XML", str(layout.service_file), "/F")),
                 Step(("schtasks", "/Run", "/TN", TASK_NAME))]
        notes = [f"log: Get-Content '{layout.log_file}' -Tail 20 -Wait",
                 f"state: schtasks /Query /TN \"{TASK_NAME}\" /V /FO LIST"]
    notes.append("check: " + subprocess.list2cmdline(status) if layout.system == "win32"
                 else "check: " + shlex.join(status))
    return Plan(copies=tuple(copies), files=tuple(files), folders=tuple(folders), first_steps=tuple(first),
                steps=tuple(steps), notes=tuple(notes))


def _systemd_install_steps(layout: Layout, user: str) -> tuple[list[Step], list[str]]:
    unit = f"{SERVICE_NAME}.service"
    if layout.user_scope:
        ctl = ("systemctl", "--user")
        notes = [f"to keep it running while you are logged out: loginctl enable-linger {user or '$USER'}"]
        return [Step((*ctl, "daemon-reload")), Step((*ctl, "enable", unit)), Step((*ctl, "restart", unit))], notes
    account = layout.account
    steps = [Step(("useradd", "--system", "--user-group", "--home-dir", str(layout.state_dir), "--no-create-home",
                   "--shell", "/usr/sbin/nologin", account), unless_account=account),
             Step(("chown", "-R", f"{account}:{account}", str(layout.state_dir))),
             Step(("systemctl", "daemon-reload")), Step(("systemctl", "enable", unit)),
             Step(("systemctl", "restart", unit))]
    return steps, []


def plan_uninstall(layout: Layout, *, purge: bool, uid: int = 0) -> Plan:
    """Stop and unregister the service; remove the program copy (and with ``purge`` its state)."""
    removals = [layout.service_file, layout.program_dir / ARCHIVE_NAME]
    if purge:
        removals += [layout.config_path, layout.state_dir]
    if layout.system == "linux":
        ctl = ("systemctl", "--user") if layout.user_scope else ("systemctl",)
        steps = [Step((*ctl, "disable", "--now", f"{SERVICE_NAME}.service"), may_fail=True)]
        after = [Step((*ctl, "daemon-reload"))]
    elif layout.system == "darwin":
        domain = f"gui/{uid}" if layout.user_scope else "system"
        steps, after = [Step(("launchctl", "bootout", f"{domain}/{LAUNCHD_LABEL}"), may_fail=True)], []
    else:
        steps = [Step(("schtasks", "/End", "/TN", TASK_NAME), may_fail=True),
                 Step(("schtasks", "/Delete", "/TN", TASK_NAME, "/F"), may_fail=True)]
        after = []
    notes = [] if purge else [f"kept: {layout.state_dir} (this PC's credential) and {layout.config_path}; "
                              f"'uninstall --purge' removes them too"]
    return Plan(steps=tuple(steps), removals=tuple(removals), after_removal=tuple(after), notes=tuple(notes))


# -- the service files ---------------------------------------------------------------------------

def _systemd_quote(arg: str) -> str:
    """One ExecStart word (systemd.service "Command lines"): quoted when needed; % and $ doubled."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in " \t\"'\\;"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(layout: Layout, argv: list[str], workdir: PurePath | None) -> str:
    """The unit; a system one runs as its own account, sandboxed (as config/ponte-agent.service)."""
    words = " ".join(_systemd_quote(a) for a in argv)
    lines = ["# Written by 'ponte-agent install'; 'ponte-agent uninstall' removes it.",
             "[Unit]",
             "Description=Ponte agent (dials out to the Ponte gateway for the local VNC server)",
             "Wants=network-online.target", "After=network-online.target", "",
             "[Service]", "Type=simple"]
    if not layout.user_scope:
        lines += [f"User={layout.account}", f"Group={layout.account}"]
    lines += [f"ExecStart={words}",
              f"WorkingDirectory={_systemd_quote(str(workdir or layout.state_dir))}",
              "Environment=PYTHONUNBUFFERED=1",
              # Proxy settings (HTTPS_PROXY=...) or PONTE_AGENT_* keys, one KEY=value a line.
              f"EnvironmentFile=-{layout.config_path.parent / 'agent.env'}",
              # The agent reconnects by itself; it exits for good only on a broken configuration (2)
              # or a revoked credential (3), which a restart cannot mend.
              "Restart=on-failure", "RestartSec=10", "RestartPreventExitStatus=2 3",
              "KillMode=mixed", "TimeoutStopSec=10", "UMask=0077", "NoNewPrivileges=yes"]
    if not layout.user_scope:
        # The interpreter may live in a home folder (a virtualenv): then homes stay readable.
        homes = ("/home/", "/root/", "/run/user/")
        protect_home = "read-only" if any(a.startswith(homes) for a in argv[:2] + [str(workdir or "")]) else "yes"
        lines += [f"StateDirectory={layout.state_dir.name}", "StateDirectoryMode=0700",
                  "ProtectSystem=strict", f"ProtectHome={protect_home}", "PrivateTmp=yes", "PrivateDevices=yes",
                  "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes",
                  "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces=yes",
                  "LockPersonality=yes", "MemoryMax=512M"]
    lines += ["", "[Install]", f"WantedBy={'default.target' if layout.user_scope else 'multi-user.target'}"]
    return "\n".join(lines) + "\n"


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


def windows_task_xml(layout: Layout, argv: list[str]) -> bytes:
    """A Task Scheduler task (schema 1.2): at boot, as SYSTEM, no time limit, restarted if it fails to start.

    UTF-16 with a byte-order mark, as ``schtasks /Create /XML`` reads it.
    """
    command, args = argv[0], subprocess.list2cmdline(argv[1:])
    xml = f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>Ponte agent: dials out to the Ponte gateway for the local VNC server. Written by 'ponte-agent install'.</Description>
    <URI>\\{escape(TASK_NAME)}</URI>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger><Enabled>true</Enabled></BootTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{WINDOWS_SYSTEM_SID}</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings><StopOnIdleEnd>false</StopOnIdleEnd><RestartOnIdle>false</RestartOnIdle></IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure><Interval>PT1M</Interval><Count>999</Count></RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(command)}</Command>
      <Arguments>{escape(args)}</Arguments>
      <WorkingDirectory>{escape(str(layout.state_dir))}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""
    return xml.replace("\n", "\r\n").encode("utf-16")


# -- doing it ---------------------------------------------------------------------------------------

def apply(plan: Plan, runner=subprocess.run, out=print, account_exists=None, before_files=None) -> None:
    """Carry the plan out; a command that fails (and may not) stops it with ``ServiceError``.

    ``before_files`` (enrolment) runs once the folders exist and are locked down.
    """
    account_exists = account_exists or _account_exists
    for folder in plan.folders:
        Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    _run(plan.first_steps, runner, out, account_exists)
    if before_files is not None:
        before_files()
    for source, dest, mode in plan.copies:
        _write(Path(dest), Path(source).read_bytes(), mode)
        out(f"copied {source} -> {dest}")
    for f in plan.files:
        _write(Path(f.path), f.data, f.mode)
        out(f"wrote {f.path}")
    _run(plan.steps, runner, out, account_exists)
    for path in plan.removals:
        p = Path(path)
        if p.is_dir():
            shutil.rmtree(p)
            out(f"removed {p}")
        elif p.exists():
            p.unlink()
            out(f"removed {p}")
    _run(plan.after_removal, runner, out, account_exists)
    for note in plan.notes:
        out(note)


def _run(steps, runner, out, account_exists) -> None:
    for step in steps:
        if step.unless_account and account_exists(step.unless_account):
            continue
        out("running: " + " ".join(step.argv))
        try:
            result = runner(list(step.argv), check=False)
        except OSError as exc:
            if step.may_fail:
                continue
            raise ServiceError(f"cannot run {step.argv[0]}: {exc}") from exc
        if result.returncode != 0 and not step.may_fail:
            raise ServiceError(f"{' '.join(step.argv)} failed (exit {result.returncode})")


def _account_exists(name: str) -> bool:
    try:
        import pwd

        pwd.getpwnam(name)
        return True
    except (ImportError, KeyError):
        return False


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def describe(plan: Plan) -> list[str]:
    """What ``--dry-run`` prints: every file with its contents, every command."""
    lines = []
    for folder in plan.folders:
        lines.append(f"would create folder {folder} (0700)")
    for source, dest, mode in plan.copies:
        lines.append(f"would copy {source} -> {dest} ({mode:04o})")
    for f in plan.files:
        if f.path.name == "vnc-password":
            lines.append(f"would write {f.path} ({f.mode:04o}): the VNC password")
            continue
        text = f.data.decode("utf-16") if f.data[:2] in (b"\xff\xfe", b"\xfe\xff") else f.data.decode()
        lines += [f"would write {f.path} ({f.mode:04o}):", *("    " + t for t in text.splitlines())]
    for step in (*plan.first_steps, *plan.steps):
        lines.append("would run: " + " ".join(step.argv)
                     + (f"   (if account {step.unless_account} is missing)" if step.unless_account else "")
                     + ("   (may fail)" if step.may_fail else ""))
    for path in plan.removals:
        lines.append(f"would remove {path}")
    for step in plan.after_removal:
        lines.append("would run: " + " ".join(step.argv))
    return lines + list(plan.notes)


# -- the subcommands ---------------------------------------------------------------------------------

def add_parsers(sub, *, common, gateway, vnc) -> None:
    """``install`` and ``uninstall`` under the agent's subcommands (agents/__main__.py)."""
    i = sub.add_parser("install", help="enrol (with --code) and register the agent as this OS's service")
    gateway(i)
    i.add_argument("--code", help="enrolment code: enrol now, straight into the service's credential file")
    common(i)
    vnc(i)
    _scope(i)
    i.add_argument("--no-prompt", dest="no_prompt", action="store_true",
                   help="never ask for the VNC password (default: ask on a terminal when none is given)")
    u = sub.add_parser("uninstall", help="stop and unregister the service")
    common(u)
    _scope(u)
    u.add_argument("--purge", action="store_true", help="also remove this PC's credential and configuration")


def _scope(p) -> None:
    p.add_argument("--user", dest="user_scope", action="store_true",
                   help="for this account only (systemd --user, launchd agent), no root needed")
    p.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="print the files and commands, change nothing")


def _is_admin(system: str) -> bool:
    if system == "win32":
        try:
            import ctypes

            return bool(ctypes.windll.shell32.IsUserAnAdmin())
        except (ImportError, AttributeError, OSError):
            return False
    return os.geteuid() == 0


def _program(layout: Layout, system: str) -> tuple[Program, Path | None]:
    archive = running_archive()
    python = service_python(system)
    if archive is not None:
        return Program(python, archive=layout.program_dir / ARCHIVE_NAME), archive
    return Program(python, workdir=PurePath(Path(__file__).resolve().parent.parent)), None


def cmd_install(args, settings: AgentSettings) -> int:
    try:
        system = current_system()
        layout = layout_for(system, args.user_scope)
        if not args.dry_run and not args.user_scope and not _is_admin(system):
            raise ServiceError("installing for the whole PC needs root: run it with sudo (on Windows, "
                               "from an Administrator PowerShell), or add --user")
        program, source_archive = _program(layout, system)
        source_credential = None
        if args.code:
            if not settings.gateway:
                raise ServiceError("--code needs --gateway URL")
        else:
            source_credential = settings.credential_path
            if not Path(source_credential).is_file() and not Path(str(layout.credential)).is_file():
                raise ServiceError(f"no credential at {source_credential}: give --gateway URL --code CODE "
                                   f"(from the enrol page), or run enroll first")
            if not Path(source_credential).is_file():
                source_credential = None  # installed before: keep the service's own
        password = _vnc_password(args, settings)
        if password is None and Path(str(layout.vnc_password_file)).is_file():
            password = KEEP  # installed before with a password: the service keeps its file
        plan = plan_install(layout, settings, program, source_archive=source_archive,
                            source_credential=source_credential, vnc_password=password,
                            keep_gateway=not args.code, uid=_uid(), user=getpass.getuser())
    except (ServiceError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.dry_run:
        if args.code:
            print(f"would enrol with code {args.code} at {settings.gateway} into {layout.credential} (0600)")
        for line in describe(plan):
            print(line)
        return 0
    try:
        apply(plan, before_files=(lambda: _enrol(settings, args.code, layout)) if args.code else None)
    except _EnrolmentRefused as exc:
        print(f"enrolment failed: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (ServiceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"installed: the Ponte agent runs as a service ({_kind(layout)}) and starts with the "
          f"{'login' if layout.user_scope else 'PC'}")
    return 0


class _EnrolmentRefused(Exception):
    """The gateway refused the code (or could not be reached): nothing is registered."""


def _enrol(settings: AgentSettings, code: str, layout: Layout) -> None:
    from .enroll import enroll
    from .transport import TransportError

    try:
        name = enroll(settings.gateway, code, dataclasses.replace(settings, credential_file=str(layout.credential)))
    except TransportError as exc:
        raise _EnrolmentRefused(str(exc)) from exc
    print(f"enrolled as machine {name!r}; credential saved to {layout.credential}")


def cmd_uninstall(args, settings: AgentSettings) -> int:
    try:
        system = current_system()
        layout = layout_for(system, args.user_scope)
        if not args.dry_run and not args.user_scope and not _is_admin(system):
            raise ServiceError("removing the PC's service needs root: run it with sudo (on Windows, "
                               "from an Administrator PowerShell), or add --user")
        plan = plan_uninstall(layout, purge=args.purge, uid=_uid())
        if args.dry_run:
            for line in describe(plan):
                print(line)
            return 0
        apply(plan)
    except (ServiceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print("uninstalled: the Ponte agent service is gone")
    return 0


def _vnc_password(args, settings: AgentSettings) -> str | None:
    """The VNC password for the service's own file: given, or asked on a terminal, or none."""
    secret = settings.vnc_secret()
    if secret is not None:
        return secret
    if args.no_prompt or args.dry_run or not sys.stdin or not sys.stdin.isatty():
        return None
    typed = getpass.getpass("VNC password of this PC's VNC server (Enter if it has none): ")
    return typed or None


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else 0


def _kind(layout: Layout) -> str:
    return {"linux": "systemd" + (" --user" if layout.user_scope else ""),
            "darwin": "launchd " + ("agent" if layout.user_scope else "daemon"),
            "win32": f"scheduled task '{TASK_NAME}'"}[layout.system]


COMMANDS = {"install": cmd_install, "uninstall": cmd_uninstall}

__all__ = ["Layout", "Plan", "Program", "ServiceError", "apply", "layout_for", "plan_install", "plan_uninstall",
           "systemd_unit", "launchd_plist", "windows_task_xml"]
