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

Modules::

    parts      what a plan is made of (Layout, Program, FileOut, Step, Plan) and shared names
    plan       the plan for this OS and these settings (the OS's own part from the next three)
    linux      systemd: places, the unit, systemctl (and the service's own account)
    macos      launchd: places, the plist, launchctl
    windows    Task Scheduler: places, the task XML, schtasks and icacls
    apply      carrying a plan out; what --dry-run prints
    commands   the install / uninstall subcommands

Errors: ``ServiceError`` (``agents.errors``): install or uninstall cannot go on.
"""

from ..errors import ServiceError
from .apply import apply, describe
from .commands import COMMANDS, add_parsers
from .linux import systemd_unit
from .macos import launchd_plist
from .parts import ARCHIVE_NAME, EXIT_CONFIG, EXIT_REFUSED, FileOut, Layout, Plan, Program, Step
from .plan import KEEP, current_system, layout_for, plan_install, plan_uninstall, toml_config
from .windows import windows_task_xml

__all__ = ["ARCHIVE_NAME", "COMMANDS", "EXIT_CONFIG", "EXIT_REFUSED", "KEEP", "FileOut", "Layout", "Plan",
           "Program", "ServiceError", "Step", "add_parsers", "apply", "current_system", "describe", "launchd_plist",
           "layout_for", "plan_install", "plan_uninstall", "systemd_unit", "toml_config", "windows_task_xml"]
