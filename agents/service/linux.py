"""Linux: a systemd unit. System-wide it runs as its own account (``ponte-agent``, created),
sandboxed; ``--user`` makes a user unit under ``~/.config/systemd/user/``. The log is journald's."""

from __future__ import annotations

from pathlib import PurePath, PurePosixPath

from .parts import LINUX_ACCOUNT, SERVICE_NAME, FileOut, Layout, Program, Registration, Step, posix_places


def layout(user_scope: bool, *, home: PurePath | None, environ, root: PurePath | None) -> Layout:
    home, sys_path = posix_places(home, root)
    if user_scope:
        config = PurePosixPath(environ.get("XDG_CONFIG_HOME") or home / ".config")
        data = PurePosixPath(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
        return Layout("linux", True, data / SERVICE_NAME, config / "ponte" / "agent-service.toml",
                      config / "ponte", config / "systemd" / "user" / f"{SERVICE_NAME}.service")
    return Layout("linux", False, sys_path("/opt/ponte-agent"), sys_path("/etc/ponte/agent.toml"),
                  sys_path("/var/lib/ponte-agent"), sys_path(f"/etc/systemd/system/{SERVICE_NAME}.service"),
                  account=LINUX_ACCOUNT)


def register(layout: Layout, run: list[str], program: Program, *, uid: int, user: str) -> Registration:
    """The unit, the commands that enable and (re)start it, and where its log is."""
    unit = FileOut(layout.service_file, systemd_unit(layout, run, program.workdir).encode(), 0o644)
    steps, notes = _install_steps(layout, user)
    notes = [f"log: journalctl{' --user' if layout.user_scope else ''} -u {SERVICE_NAME} -f", *notes]
    if not layout.user_scope and program.python.startswith(("/home/", "/root/")):
        notes.append(f"note: the service runs as {layout.account}, which may not be allowed into the home "
                     f"folder of {program.python}; if it does not start, install with the system's "
                     f"/usr/bin/python3")
    return Registration(unit, tuple(steps), tuple(notes))


def _install_steps(layout: Layout, user: str) -> tuple[list[Step], list[str]]:
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


def unregister(layout: Layout, *, uid: int) -> tuple[list[Step], list[Step]]:
    """Disable and stop the unit; reload systemd once its file is gone."""
    ctl = ("systemctl", "--user") if layout.user_scope else ("systemctl",)
    return [Step((*ctl, "disable", "--now", f"{SERVICE_NAME}.service"), may_fail=True)], \
        [Step((*ctl, "daemon-reload"))]


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

