"""``install`` / ``uninstall``: the generated systemd unit (checked by ``systemd-analyze verify``),
launchd plist and Windows task by content, and the plan carried out under a temporary root.

systemd is not PID 1 on this test machine, so units are verified, not started: the commands that
would start them are checked as the plan lists them (``--dry-run`` prints the same).
"""

from __future__ import annotations

import dataclasses
import os
import plistlib
import shutil
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from agents import service
from agents.service import commands
from agents.config import AgentSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = AgentSettings(insecure_dev=True, vnc_port=5901, vnc_security="TLSVnc,VncAuth", log_level="DEBUG")


def linux_plan(tmp_path: Path, user_scope: bool = False, program_dir: str = "opt"):
    layout = service.layout_for("linux", user_scope, home=tmp_path / "home", environ={}, root=tmp_path / "root")
    if program_dir != "opt":
        layout = dataclasses.replace(layout, program_dir=PurePosixPath(tmp_path / program_dir))
    archive = Path(layout.program_dir) / service.ARCHIVE_NAME
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(b"")  # systemd-analyze checks that ExecStart's files exist
    program = service.Program(sys.executable, archive=archive)
    source = tmp_path / "download" / service.ARCHIVE_NAME
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"PK-not-really")
    cred = tmp_path / "enrolled-credential"
    cred.write_text('gateway = "http://127.0.0.1:1"\ncredential = "c"\n')
    plan = service.plan_install(layout, SETTINGS, program, source_archive=source, source_credential=cred,
                                vnc_password="pa ss", keep_gateway=True, user="alice")
    return layout, plan


def file_of(plan, path) -> bytes:
    return next(f.data for f in plan.files if f.path == path)


def verify_unit(tmp_path: Path, text: str, user_scope: bool) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = tmp_path / "verify" / "ponte-agent.service"
    unit.parent.mkdir(exist_ok=True)
    unit.write_text(text)
    # A short runtime folder: systemd puts the user manager's sockets (gpg-agent's among them) in it,
    # and a pytest-xdist tmp path is longer than a unix socket path may be.
    runtime = Path(tempfile.mkdtemp(prefix="xdg-", dir="/tmp"))
    cmd = ["systemd-analyze", *(["--user"] if user_scope else []), "verify", str(unit)]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    # verify exits 0 on some mistakes (an unknown Type= is "ignored"): no output is the test.
    shutil.rmtree(runtime, ignore_errors=True)
    assert res.returncode == 0 and not res.stderr.strip() and not res.stdout.strip(), res.stderr + res.stdout


def test_system_unit_runs_the_copied_pyz_as_its_own_account_and_passes_systemd_analyze(tmp_path):
    layout, plan = linux_plan(tmp_path)
    text = file_of(plan, layout.service_file).decode()
    root = tmp_path / "root"
    assert f"ExecStart={sys.executable} {root}/opt/ponte-agent/ponte-agent.pyz run --config {root}/etc/ponte/agent.toml" in text
    for line in ("User=ponte-agent", "StateDirectory=ponte-agent", "RestartPreventExitStatus=2 3",
                 "Restart=on-failure", "ProtectSystem=strict", "NoNewPrivileges=yes", "WantedBy=multi-user.target"):
        assert line in text.splitlines(), line
    verify_unit(tmp_path, text, user_scope=False)
    argvs = [s.argv for s in plan.steps]
    assert argvs[0][0] == "useradd" and plan.steps[0].unless_account == "ponte-agent"
    assert ("chown", "-R", "ponte-agent:ponte-agent", str(layout.state_dir)) in argvs
    assert argvs[-3:] == [("systemctl", "daemon-reload"), ("systemctl", "enable", "ponte-agent.service"),
                          ("systemctl", "restart", "ponte-agent.service")]
    assert "log: journalctl -u ponte-agent -f" in plan.notes


def test_user_unit_passes_systemd_analyze_user(tmp_path):
    layout, plan = linux_plan(tmp_path, user_scope=True)
    home = tmp_path / "home"
    assert layout.service_file == PurePosixPath(home / ".config/systemd/user/ponte-agent.service")
    assert layout.credential == PurePosixPath(home / ".config/ponte/credential")  # where enroll puts it
    text = file_of(plan, layout.service_file).decode()
    assert "User=" not in text and "WantedBy=default.target" in text
    verify_unit(tmp_path, text, user_scope=True)
    assert [s.argv[:2] for s in plan.steps] == [("systemctl", "--user")] * 3
    assert any("loginctl enable-linger alice" in n for n in plan.notes)
    assert "log: journalctl --user -u ponte-agent -f" in plan.notes


def test_paths_with_spaces_and_percent_are_quoted_for_systemd(tmp_path):
    layout, plan = linux_plan(tmp_path, program_dir="my 100% agent")
    text = file_of(plan, layout.service_file).decode()
    assert f'"{tmp_path}/my 100%% agent/ponte-agent.pyz"' in text
    verify_unit(tmp_path, text, user_scope=False)


def test_service_config_reads_back_as_the_settings_given(tmp_path):
    layout, plan = linux_plan(tmp_path)
    config = tmp_path / "agent.toml"
    config.write_bytes(file_of(plan, layout.config_path))
    got = load_settings(str(config), environ={})
    assert got.insecure_dev and got.vnc_port == 5901 and got.vnc_security == "TLSVnc,VncAuth"
    assert got.log_level == "DEBUG" and got.log_file == ""   # journald keeps the log
    assert got.credential_file == str(layout.credential)
    assert got.vnc_password_file == str(layout.vnc_password_file) and got.vnc_password == ""
    assert file_of(plan, layout.vnc_password_file) == b"pa ss\n"
    assert next(f.mode for f in plan.files if f.path == layout.vnc_password_file) == 0o600
    assert service.toml_config({"x": 'a"b\\c é'}).endswith('x = "a\\"b\\\\c é"\n')


def test_apply_writes_private_files_runs_the_steps_and_uninstall_keeps_the_credential(tmp_path):
    layout, plan = linux_plan(tmp_path)
    ran = []

    def runner(argv, check):
        ran.append(tuple(argv))
        return subprocess.CompletedProcess(argv, 0)

    service.apply(plan, runner=runner, out=lambda *_: None, account_exists=lambda name: False)
    cred, pyz = Path(layout.credential), Path(layout.program_dir) / "ponte-agent.pyz"
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600 and "credential" in cred.read_text()
    assert stat.S_IMODE(Path(layout.state_dir).stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(layout.vnc_password_file).stat().st_mode) == 0o600
    assert pyz.read_bytes() == b"PK-not-really" and stat.S_IMODE(pyz.stat().st_mode) == 0o644
    assert Path(layout.service_file).is_file() and Path(layout.config_path).is_file()
    assert ran[0][0] == "useradd" and ran[-1] == ("systemctl", "restart", "ponte-agent.service")
    # the account exists the second time: no useradd
    ran.clear()
    service.apply(plan, runner=runner, out=lambda *_: None, account_exists=lambda name: True)
    assert ran[0][0] == "chown"

    ran.clear()
    service.apply(service.plan_uninstall(layout, purge=False), runner=runner, out=lambda *_: None)
    assert ran == [("systemctl", "disable", "--now", "ponte-agent.service"), ("systemctl", "daemon-reload")]
    assert not Path(layout.service_file).exists() and not pyz.exists()
    assert cred.exists() and Path(layout.config_path).exists()
    service.apply(service.plan_uninstall(layout, purge=True), runner=runner, out=lambda *_: None)
    assert not Path(layout.state_dir).exists() and not Path(layout.config_path).exists()


def test_a_failing_command_stops_the_install(tmp_path):
    layout, plan = linux_plan(tmp_path)

    def runner(argv, check):
        return subprocess.CompletedProcess(argv, 1 if argv[:2] == ["systemctl", "enable"] else 0)

    with pytest.raises(service.ServiceError, match="systemctl enable ponte-agent.service failed"):
        service.apply(plan, runner=runner, out=lambda *_: None, account_exists=lambda name: True)


@pytest.mark.parametrize("user_scope", [False, True])
def test_launchd_plist(tmp_path, user_scope):
    layout = service.layout_for("darwin", user_scope, home=PurePosixPath("/Users/anna"), environ={})
    program = service.Program("/usr/local/bin/python3", archive=layout.program_dir / service.ARCHIVE_NAME)
    plan = service.plan_install(layout, SETTINGS, program, source_archive=PurePosixPath("/Users/anna/Downloads/ponte-agent.pyz"),
                                source_credential=None, vnc_password=None, keep_gateway=False, uid=501)
    job = plistlib.loads(file_of(plan, layout.service_file))
    config = str(layout.config_path)
    assert job["Label"] == "com.ponte.agent"
    assert job["ProgramArguments"] == ["/usr/local/bin/python3", str(layout.program_dir / "ponte-agent.pyz"),
                                       "run", "--config", config]
    assert job["RunAtLoad"] is True and job["KeepAlive"] == {"SuccessfulExit": False} and job["Umask"] == 0o077
    settings = load_settings_from(plan, layout, tmp_path)
    assert settings.log_file == layout.log_file   # launchd keeps no log: the agent rotates its own
    domain = "gui/501" if user_scope else "system"
    assert [s.argv for s in plan.steps] == [("launchctl", "bootout", f"{domain}/com.ponte.agent"),
                                            ("launchctl", "bootstrap", domain, str(layout.service_file))]
    assert plan.steps[0].may_fail
    if user_scope:
        assert str(layout.service_file) == "/Users/anna/Library/LaunchAgents/com.ponte.agent.plist"
    else:
        assert str(layout.service_file) == "/Library/LaunchDaemons/com.ponte.agent.plist"
        assert layout.log_file == "/Library/Logs/Ponte/agent.log"
    assert f"log: tail -f '{layout.log_file}'" in plan.notes


def load_settings_from(plan, layout, tmp_path):
    config = tmp_path / "from-plan.toml"
    config.write_bytes(file_of(plan, layout.config_path))
    return load_settings(str(config), environ={})


def test_windows_task_at_boot_as_system_without_time_limit(tmp_path):
    env = {"ProgramFiles": r"C:\Program Files", "ProgramData": r"C:\ProgramData"}
    layout = service.layout_for("win32", False, environ=env)
    python = r"C:\Program Files\Python312\pythonw.exe"
    program = service.Program(python, archive=layout.program_dir / service.ARCHIVE_NAME)
    plan = service.plan_install(layout, SETTINGS, program,
                                source_archive=PureWindowsPath(r"C:\Users\anna\Downloads\ponte-agent.pyz"),
                                source_credential=PureWindowsPath(r"C:\Users\anna\AppData\Roaming\Ponte\credential"),
                                vnc_password="x", keep_gateway=False)
    data = file_of(plan, layout.service_file)
    assert data[:2] == b"\xff\xfe"   # UTF-16 LE with BOM, as schtasks /XML reads it
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    task = ET.fromstring(data.decode("utf-16").replace('encoding="UTF-16"', ""))
    assert task.find("t:Triggers/t:BootTrigger/t:Enabled", ns).text == "true"
    assert task.find("t:Principals/t:Principal/t:UserId", ns).text == "S-1-5-18"
    assert task.find("t:Settings/t:ExecutionTimeLimit", ns).text == "PT0S"
    assert task.find("t:Settings/t:DisallowStartIfOnBatteries", ns).text == "false"
    assert task.find("t:Actions/t:Exec/t:Command", ns).text == python
    assert task.find("t:Actions/t:Exec/t:Arguments", ns).text == (
        r'"C:\Program Files\Ponte\ponte-agent.pyz" run --config C:\ProgramData\Ponte\agent.toml')
    # the folder is locked down before the credential is written into it (files inherit its ACL)
    assert [s.argv for s in plan.first_steps] == [("icacls", r"C:\ProgramData\Ponte", "/inheritance:r", "/grant:r",
                                                   "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F")]
    argvs = [s.argv for s in plan.steps]
    assert ("schtasks", "/Create", "/TN", "Ponte Agent", "/XML", r"C:\ProgramData\Ponte\ponte-agent-task.xml",
            "/F") in argvs
    assert argvs[-1] == ("schtasks", "/Run", "/TN", "Ponte Agent")
    settings = load_settings_from(plan, layout, tmp_path)
    assert settings.credential_file == r"C:\ProgramData\Ponte\credential"
    assert settings.log_file == r"C:\ProgramData\Ponte\agent.log"
    assert (PureWindowsPath(r"C:\Users\anna\AppData\Roaming\Ponte\credential"), layout.credential, 0o600) in plan.copies
    uninstall = [s.argv for s in service.plan_uninstall(layout, purge=False).steps]
    assert uninstall == [("schtasks", "/End", "/TN", "Ponte Agent"), ("schtasks", "/Delete", "/TN", "Ponte Agent", "/F")]
    with pytest.raises(service.ServiceError, match="--user is not offered on Windows"):
        service.layout_for("win32", True, environ=env)


def test_dry_run_from_a_checkout_prints_the_unit_and_changes_nothing(tmp_path):
    home = tmp_path / "home"
    cred = home / ".config" / "ponte" / "credential"
    cred.parent.mkdir(parents=True)
    cred.write_text('gateway = "https://ponte.example.com"\ncredential = "c"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PONTE_", "XDG_"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "agents", "install", "--user", "--dry-run", "--vnc-port", "5902"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    # not a .pyz: the unit runs the package where it is
    assert f"ExecStart={sys.executable} -m agents run --config {home}/.config/ponte/agent-service.toml" in out
    assert f"WorkingDirectory={ROOT}" in out
    assert "would run: systemctl --user enable ponte-agent.service" in out
    assert "vnc_port = 5902" in out
    assert sorted(p.name for p in (home / ".config" / "ponte").iterdir()) == ["credential"]


def test_install_needs_a_credential_or_a_code_with_its_gateway(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PONTE_", "XDG_"))}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "agents", "install", "--user", "--no-prompt"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "give --gateway URL --code CODE" in res.stderr
    res = subprocess.run([sys.executable, "-m", "agents", "install", "--user", "--code", "X"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--code needs --gateway URL" in res.stderr


def test_exit_codes_are_the_agents():
    from agents import __main__ as cli

    assert (service.EXIT_CONFIG, service.EXIT_REFUSED) == (cli.EXIT_CONFIG, cli.EXIT_REFUSED)


def test_a_refused_enrolment_registers_nothing(tmp_path):
    from tests.support import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PONTE_", "XDG_"))}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "agents", "install", "--user", "--no-prompt", "--insecure-dev",
                          "--gateway", f"http://127.0.0.1:{free_port()}", "--code", "ABCD-EFGH"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 3 and "enrolment failed" in res.stderr, res.stdout + res.stderr
    assert not (tmp_path / ".config" / "systemd").exists()
    assert not (tmp_path / ".config" / "ponte" / "agent-service.toml").exists()


@pytest.mark.parametrize("typed,tty,expected", [("s3cret", True, "s3cret"), ("", True, None), ("x", False, None)])
def test_the_vnc_password_is_asked_on_a_terminal_only(monkeypatch, typed, tty, expected):
    import argparse

    monkeypatch.setattr(commands.getpass, "getpass", lambda prompt: typed)
    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"isatty": lambda self: tty})())
    args = argparse.Namespace(no_prompt=False, dry_run=False)
    assert commands._vnc_password(args, AgentSettings()) == expected
    assert commands._vnc_password(args, AgentSettings(vnc_password="given")) == "given"


def test_a_reinstall_without_a_password_keeps_the_services_password_file(tmp_path):
    layout, _plan = linux_plan(tmp_path)
    program = service.Program(sys.executable, archive=layout.program_dir / service.ARCHIVE_NAME)
    plan = service.plan_install(layout, SETTINGS, program, source_archive=None, source_credential=None,
                                vnc_password=service.KEEP, keep_gateway=False)
    assert layout.vnc_password_file not in [f.path for f in plan.files]
    config = tmp_path / "agent.toml"
    config.write_bytes(file_of(plan, layout.config_path))
    assert load_settings(str(config), environ={}).vnc_password_file == str(layout.vnc_password_file)
