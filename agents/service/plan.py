"""Planning, pure: a ``Layout`` and the settings become a ``Plan`` (files with contents and modes,
commands, what to tell), which tests check by content for every OS on any OS.

The OS's own part (service file, registration commands, where its log is) comes from
``linux``, ``macos`` or ``windows``; everything else (the program copy, the credential,
the VNC password file, the service's ``agent.toml``) is the same everywhere and is here.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path, PurePath, PureWindowsPath

from ..config import FIELDS, AgentSettings
from ..errors import ServiceError
from . import linux, macos, windows
from .parts import ARCHIVE_NAME, FileOut, Layout, Plan, Program

#: The OS modules by ``sys.platform``'s name for them.
SYSTEMS = {"linux": linux, "darwin": macos, "win32": windows}
#: Settings that install writes itself (files of the service's own) or leaves to the credential file.
_MANAGED = {"credential_file", "vnc_password", "vnc_password_file", "gateway", "log_file"}
#: Settings naming files the service must read: copied next to the credential, where it may read them.
_COPIED_FILES = ("ca_bundle", "vnc_ca_file")


def current_system() -> str:
    if sys.platform == "win32":
        return "win32"
    if sys.platform == "darwin":
        return "darwin"
    if sys.platform.startswith("linux"):
        return "linux"
    raise ServiceError(f"no service manager known for {sys.platform}: run 'ponte-agent run' from its own "
                       f"start-up mechanism")


def _system(system: str):
    try:
        return SYSTEMS[system]
    except KeyError:
        raise ServiceError(f"unknown system {system!r}") from None


def layout_for(system: str, user_scope: bool, home: PurePath | None = None, environ=None,
               root: PurePath | None = None) -> Layout:
    """The standard places; ``root`` prefixes every system path (tests)."""
    environ = os.environ if environ is None else environ
    return _system(system).layout(user_scope, home=home, environ=environ, root=root)


def running_archive() -> Path | None:
    """The ``.pyz`` this agent runs from, or ``None`` when it is a package on disk."""
    # agents/service/plan.py: two folders up is the archive (or the checkout holding agents/).
    candidate = Path(os.path.abspath(__file__)).parents[2]
    return candidate if candidate.is_file() else None


def service_python(system: str, executable: str | None = None) -> str:
    """The interpreter the service runs: this one (on Windows its console-less ``pythonw.exe``)."""
    python = executable or sys.executable
    if system == "win32":
        win = PureWindowsPath(python)
        if win.name.lower() == "python.exe" and Path(str(win.with_name("pythonw.exe"))).exists():
            return str(win.with_name("pythonw.exe"))
    return python


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
    folders = [layout.state_dir]
    if layout.log_file:
        folders.append(PurePath(layout.log_file).parent)
    own = _system(layout.system).register(layout, run, program, uid=uid, user=user)
    files.append(own.service_file)
    check = subprocess.list2cmdline(status) if layout.system == "win32" else shlex.join(status)
    return Plan(copies=tuple(copies), files=tuple(files), folders=tuple(folders), first_steps=own.first_steps,
                steps=own.steps, notes=(*own.notes, "check: " + check))


def plan_uninstall(layout: Layout, *, purge: bool, uid: int = 0) -> Plan:
    """Stop and unregister the service; remove the program copy (and with ``purge`` its state)."""
    removals = [layout.service_file, layout.program_dir / ARCHIVE_NAME]
    if purge:
        removals += [layout.config_path, layout.state_dir]
    steps, after = _system(layout.system).unregister(layout, uid=uid)
    notes = [] if purge else [f"kept: {layout.state_dir} (this PC's credential) and {layout.config_path}; "
                              f"'uninstall --purge' removes them too"]
    return Plan(steps=tuple(steps), removals=tuple(removals), after_removal=tuple(after), notes=tuple(notes))
