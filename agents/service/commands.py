"""The subcommands ``ponte-agent install`` and ``uninstall`` (registered by ``agents/__main__.py``
through ``add_parsers``): checks (root, a credential or a code), the VNC password (given, or
asked on a terminal), enrolment into the service's own credential file, then the plan applied,
or printed with ``--dry-run``."""

from __future__ import annotations

import dataclasses
import getpass
import os
import sys
from pathlib import Path, PurePath

from ..config import AgentSettings, ConfigError
from ..errors import ServiceError
from .apply import apply, describe
from .parts import ARCHIVE_NAME, EXIT_CONFIG, EXIT_REFUSED, TASK_NAME, Layout, Program
from .plan import KEEP, current_system, layout_for, plan_install, plan_uninstall, running_archive, service_python


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
    # agents/service/commands.py: the folder holding the agents package is two folders up.
    return Program(python, workdir=PurePath(Path(__file__).resolve().parents[2])), None


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
    from ..enroll import enroll
    from ..transport import TransportError

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
