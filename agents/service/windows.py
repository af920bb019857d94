"""Windows: a Task Scheduler task "Ponte Agent" that starts at boot as SYSTEM
(``schtasks /Create /XML``); no pywin32 service, so it needs nothing beyond Python. System-wide
only (an Administrator PowerShell); the state folder is locked to SYSTEM and Administrators."""

from __future__ import annotations

import subprocess
from pathlib import PurePath, PureWindowsPath
from xml.sax.saxutils import escape

from ..errors import ServiceError
from .parts import (TASK_NAME, WINDOWS_ADMINS_SID, WINDOWS_SYSTEM_SID, FileOut, Layout, Program, Registration,
                    Step)


def layout(user_scope: bool, *, home: PurePath | None, environ, root: PurePath | None) -> Layout:
    if user_scope:
        raise ServiceError("--user is not offered on Windows: run an Administrator PowerShell, "
                           "without --user, for a task that starts at boot")
    programs = PureWindowsPath(environ.get("ProgramFiles", r"C:\Program Files"))
    data = PureWindowsPath(environ.get("ProgramData", r"C:\ProgramData")) / "Ponte"
    return Layout("win32", False, programs / "Ponte", data / "agent.toml", data,
                  data / "ponte-agent-task.xml", log_file=str(data / "agent.log"))


def register(layout: Layout, run: list[str], program: Program, *, uid: int, user: str) -> Registration:
    """The task XML, the state folder's ACL, and ``schtasks`` replacing and starting the task."""
    task = FileOut(layout.service_file, windows_task_xml(layout, run), 0o644)
    # Before the credential is written into it: files inherit the folder's ACL when created.
    first = (Step(("icacls", str(layout.state_dir), "/inheritance:r", "/grant:r",
                   f"*{WINDOWS_SYSTEM_SID}:(OI)(CI)F", f"*{WINDOWS_ADMINS_SID}:(OI)(CI)F")),)
    steps = (Step(("schtasks", "/End", "/TN", TASK_NAME), may_fail=True),
             Step(("schtasks", "/Create", "/TN", TASK_NAME, "/XML", str(layout.service_file), "/F")),
             Step(("schtasks", "/Run", "/TN", TASK_NAME)))
    notes = (f"log: Get-Content '{layout.log_file}' -Tail 20 -Wait",
             f"state: schtasks /Query /TN \"{TASK_NAME}\" /V /FO LIST")
    return Registration(task, steps, notes, first_steps=first)


def unregister(layout: Layout, *, uid: int) -> tuple[list[Step], list[Step]]:
    return [Step(("schtasks", "/End", "/TN", TASK_NAME), may_fail=True),
            Step(("schtasks", "/Delete", "/TN", TASK_NAME, "/F"), may_fail=True)], []


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

