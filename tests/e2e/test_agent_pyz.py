"""The newcomer's path: download ``ponte-agent.pyz`` from a real gateway, then, in a fresh
virtualenv in a folder with no Ponte checkout and nothing of it on ``sys.path``, install it as a
systemd user service and run exactly the unit's ``ExecStart``: the PC comes online and a viewer's
session reaches its Xvnc through it. Also on Python 3.10, where the vendored tomli is what reads the
configuration.

systemd is not PID 1 here, so ``systemctl`` is a recorder on ``PATH``: the test checks what install
asks of it and starts the unit's command itself.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import needs
from tests.support import stop_process, wait_for
from tests.support.viewer import TimedViewer

pytestmark = [needs("Xvnc"), pytest.mark.slow]

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "{log}"
"""


def pythons() -> list[str]:
    """This interpreter's base Python, plus 3.10 (the oldest the agent supports) and 3.13 where the
    machine has them (on PATH or under pyenv)."""
    found = [getattr(sys, "_base_executable", sys.executable)]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in ("3.10", "3.13"):
        candidates = [shutil.which(f"python{minor}"), *sorted(map(str, pyenv.glob(f"{minor}.*/bin/python{minor}")))]
        for path in filter(None, candidates):
            ok = subprocess.run([path, "-c", f"import sys; assert sys.version.startswith('{minor}.')"],
                                capture_output=True).returncode == 0
            if ok:
                found.append(path)
                break
    return found


def clean_env(home: Path, extra_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PONTE_", "PYTHON", "XDG_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PATH=f"{extra_path}:{env.get('PATH', '')}")
    return env


@pytest.mark.parametrize("python", pythons(), ids=lambda p: "python" + subprocess.run([p, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True).stdout.strip())
def test_downloaded_pyz_installs_and_serves_a_session(python, tmp_path, gateway_factory, vnc_factory):
    gw = gateway_factory()
    vnc = vnc_factory("xvnc")
    gw.add_user("emp", "emppass12")
    code = gw.add_machine("desk")
    gw.cli("grant", "emp", "desk")

    # the download, as the enrol page's first line does it
    pc = tmp_path / "office-pc"
    pc.mkdir()
    with urllib.request.urlopen(f"{gw.url}/download/ponte-agent.pyz", timeout=30) as resp:
        assert resp.headers["Content-Type"] == "application/octet-stream"
        body = resp.read()
    with urllib.request.urlopen(f"{gw.url}/download/ponte-agent.pyz.sha256", timeout=30) as resp:
        assert resp.read().decode().split()[0] == hashlib.sha256(body).hexdigest()
    (pc / "ponte-agent.pyz").write_bytes(body)

    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    vpython = str(venv / "bin" / "python")
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    calls = tmp_path / "systemctl.calls"
    (fakebin / "systemctl").write_text(FAKE_SYSTEMCTL.format(log=calls))
    (fakebin / "systemctl").chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, fakebin)

    def agent(*args, check=True):
        res = subprocess.run([vpython, "ponte-agent.pyz", *args], cwd=pc, env=env, capture_output=True,
                             text=True, timeout=120)
        assert not check or res.returncode == 0, res.stdout + res.stderr
        return res

    assert "install" in agent("--help").stdout

    password = pc / "vnc-password.txt"
    password.write_text(vnc.password + "\n")
    out = agent("install", "--user", "--gateway", gw.url, "--code", code, "--insecure-dev",
                "--vnc-port", str(vnc.port), "--vnc-password-file", str(password)).stdout
    assert "enrolled as machine 'desk'" in out and "log: journalctl --user -u ponte-agent -f" in out
    assert calls.read_text().splitlines() == ["--user daemon-reload", "--user enable ponte-agent.service",
                                              "--user restart ponte-agent.service"]
    unit_path = home / ".config" / "systemd" / "user" / "ponte-agent.service"
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(unit_path)
    exec_start = shlex.split(unit["Service"]["ExecStart"])
    installed = home / ".local" / "share" / "ponte-agent" / "ponte-agent.pyz"
    assert exec_start[:3] == [vpython, str(installed), "run"] and installed.read_bytes() == body
    workdir = unit["Service"]["WorkingDirectory"]

    # what systemd would start, with the unit's environment and nothing else of ours
    service_env = {**env, "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "service.log", "wb")
    proc = subprocess.Popen(exec_start, cwd=workdir, env=service_env, stdout=log, stderr=log)
    try:
        wait_for(lambda: proc.poll() is None and gw.machine_state("desk") == "online", timeout=30, interval=0.3,
                 what="the installed agent online")
        viewer = TimedViewer(gw.url, "desk")
        try:
            assert viewer.round_trip() < 10
        finally:
            viewer.ws.close()
        status = agent("status", "--config", str(home / ".config" / "ponte" / "agent-service.toml"), check=False)
        assert "credential valid: yes" in status.stdout and "VNC password accepted: yes" in status.stdout, status.stdout
    finally:
        stop_process(proc)
    assert proc.returncode == 0, (tmp_path / "service.log").read_text()

    calls.write_text("")
    out = agent("uninstall", "--user").stdout
    assert calls.read_text().splitlines() == ["--user disable --now ponte-agent.service", "--user daemon-reload"]
    assert not unit_path.exists() and not installed.exists()
    assert (home / ".config" / "ponte" / "credential").exists() and "uninstall --purge" in out
