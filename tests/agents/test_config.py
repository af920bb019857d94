"""Settings, flags, the example files, the credential file, logging, and what the agent imports."""

from __future__ import annotations

import argparse
import configparser
import logging
import os
import plistlib
import stat
import subprocess
import sys

import pytest

from agents import __main__ as cli
from agents.config import (FIELDS, AgentSettings, ConfigError, load_settings, read_credential,
                           save_credential)
from tests.agents.conftest import run_agent_cli
from tests.support import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

EXAMPLE = ROOT / "config" / "agent.toml"


def subparser(name: str) -> argparse.ArgumentParser:
    parser = cli.parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


@pytest.mark.parametrize("command", ["run", "status"])
def test_every_setting_is_a_flag(command):
    dests = {a.dest for a in subparser(command)._actions}
    assert set(FIELDS) <= dests, f"missing flags: {set(FIELDS) - dests}"


def test_every_flag_reaches_the_settings():
    args = ["run", "--gateway", "https://gw.example", "--credential-file", "/tmp/c", "--vnc-host", "::1",
            "--vnc-port", "5901", "--vnc-password", "pw", "--vnc-password-file", "/tmp/pw", "--vnc-timeout", "3.5",
            "--ca-bundle", "/tmp/ca.pem", "--pin-sha256", "AB" * 32, "--insecure-dev", "--log-file", "/tmp/l",
            "--log-level", "debug", "--log-max-bytes", "2048", "--log-backups", "2"]
    ns = cli.parser().parse_args(args)
    settings = load_settings(None, {k: getattr(ns, k, None) for k in cli.SETTING_ARGS}, environ={})
    assert settings == AgentSettings(
        gateway="https://gw.example", credential_file="/tmp/c", vnc_host="::1", vnc_port=5901, vnc_password="pw",
        vnc_password_file="/tmp/pw", vnc_timeout=3.5, ca_bundle="/tmp/ca.pem", pin_sha256="AB" * 32,
        insecure_dev=True, log_file="/tmp/l", log_level="DEBUG", log_max_bytes=2048, log_backups=2)


def test_example_config_has_every_key_with_its_default():
    with open(EXAMPLE, "rb") as fh:
        table = tomllib.load(fh)["agent"]
    assert set(table) == set(FIELDS)
    assert load_settings(str(EXAMPLE), environ={}) == AgentSettings()


def test_precedence_file_then_environment_then_flags(tmp_path):
    conf = tmp_path / "agent.toml"
    conf.write_text('[agent]\nvnc_port = 5901\nvnc_host = "10.0.0.1"\nlog_level = "WARNING"\ninsecure_dev = true\n')
    env = {"PONTE_AGENT_VNC_PORT": "5902", "PONTE_AGENT_LOG_LEVEL": "ERROR", "PONTE_AGENT_INSECURE_DEV": "no"}
    s = load_settings(str(conf), {"vnc_port": 5903}, environ=env)
    assert (s.vnc_port, s.vnc_host, s.log_level, s.insecure_dev) == (5903, "10.0.0.1", "ERROR", False)
    s = load_settings(None, None, environ={"PONTE_AGENT_CONFIG": str(conf)})
    assert s.vnc_port == 5901 and s.insecure_dev is True


@pytest.mark.parametrize("values, message", [
    ({"vnc_port": "abc"}, "vnc_port"),
    ({"vnc_port": "70000"}, "1-65535"),
    ({"vnc_timeout": "0"}, "vnc_timeout"),
    ({"log_level": "LOUD"}, "log_level"),
    ({"insecure_dev": "maybe"}, "insecure_dev"),
    ({"pin_sha256": "not-a-hash"}, "pin_sha256"),
    ({"gateway": "gateway.example.com"}, "must be a URL"),
    ({"log_backups": "0"}, "log_backups"),
    ({"colour": "blue"}, "unknown agent settings: colour"),
])
def test_bad_values_are_config_errors(values, message):
    env = {f"PONTE_AGENT_{k.upper()}": v for k, v in values.items() if k in FIELDS}
    with pytest.raises(ConfigError, match=message):
        load_settings(None, {k: v for k, v in values.items() if k not in FIELDS}, environ=env)


def test_bad_toml_types(tmp_path):
    conf = tmp_path / "agent.toml"
    conf.write_text("[agent]\nvnc_password = 1234\n")
    with pytest.raises(ConfigError, match="vnc_password"):
        load_settings(str(conf), environ={})
    conf.write_text("[agent\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(str(conf), environ={})


def test_several_pins_and_colons():
    pin = ":".join(["AB"] * 32) + ", " + "cd" * 32
    assert load_settings(None, {"pin_sha256": pin}, environ={}).pin_sha256 == pin


def test_vnc_password_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text("\ufeffsecret1\nignored\n", encoding="utf-8")  # Notepad writes a BOM
    assert AgentSettings(vnc_password_file=str(f)).vnc_secret() == "secret1"
    assert AgentSettings(vnc_password="direct", vnc_password_file=str(f)).vnc_secret() == "direct"
    assert AgentSettings().vnc_secret() is None
    with pytest.raises(ConfigError, match="cannot read vnc_password_file"):
        AgentSettings(vnc_password_file=str(tmp_path / "missing")).vnc_secret()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_credential_file_is_0600_and_round_trips(tmp_path):
    path = tmp_path / "new-dir" / "credential"
    gateway = 'https://gw.example/odd"path\\x/é'
    save_credential(path, gateway, "12.s3cr3t")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_credential(path) == (gateway, "12.s3cr3t")
    path.chmod(0o644)
    save_credential(path, gateway, "12.other")  # rewriting tightens it again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.tmp"))


def test_credential_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="run 'python -m agents enroll' first"):
        read_credential(tmp_path / "missing")
    (tmp_path / "half").write_text('gateway = "https://gw"\n')
    with pytest.raises(ConfigError, match="incomplete"):
        read_credential(tmp_path / "half")


def test_log_file_rotates(tmp_path):
    settings = AgentSettings(log_file=str(tmp_path / "logs" / "agent.log"), log_max_bytes=2048, log_backups=2)
    handlers = cli.log_handlers(settings)
    logger = logging.getLogger("test-agent-rotation")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for h in handlers:
        logger.addHandler(h)
    try:
        for i in range(200):
            logger.info("line %03d %s", i, "x" * 60)
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["agent.log", "agent.log.1", "agent.log.2"]  # rotated, only log_backups kept
    assert all((tmp_path / "logs" / f).stat().st_size <= 2048 for f in files)
    assert "line 199" in (tmp_path / "logs" / "agent.log").read_text()
    # with a log file and no terminal, stderr gets nothing (launchd would grow it forever)
    assert not any(type(h) is logging.StreamHandler for h in handlers)


def test_agent_run_writes_its_log_file(tmp_path):
    """``run`` with --log-file: the message a person needs is in the file (here: no credential)."""
    log = tmp_path / "agent.log"
    res = run_agent_cli("run", "--credential-file", str(tmp_path / "none"), "--log-file", str(log))
    assert res.returncode == 2
    assert "run 'python -m agents enroll' first" in res.stderr
    assert "run 'python -m agents enroll' first" in log.read_text()


def test_bad_config_exits_2_with_a_sentence(tmp_path):
    res = run_agent_cli("status", "--vnc-port", "0")
    assert res.returncode == 2
    assert res.stderr.strip() == "error: vnc_port must be 1-65535, not 0"
    res = run_agent_cli("run", env={"PONTE_AGENT_COLOUR": "x", "PONTE_AGENT_CONFIG": str(tmp_path / "nope.toml")})
    assert res.returncode == 2 and "cannot read" in res.stderr


def test_agent_imports_only_what_requirements_agent_lists():
    """pip-only install: no gevent, no Flask, and no third-party module outside requirements-agent.txt."""
    code = (
        "import sys\n"
        "import agents.__main__, agents.runtime, agents.doctor, agents.forward, agents.enroll, agents.stream\n"
        "std = set(sys.stdlib_module_names)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} - std - {'agents'})))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    third_party = {m for m in out if not m.startswith("_") and m not in ("sitecustomize", "usercustomize")}
    assert "gevent" not in third_party and "flask" not in third_party
    assert third_party <= {"numpy", "websockify", "tomli"}, third_party
    wanted = {line.split("==")[0].split(">=")[0].split(";")[0].strip().lower()
              for line in (ROOT / "requirements-agent.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    optional = {"numpy"}  # faster masking when present; test_websocket.py runs the agent without it
    assert third_party <= wanted | {"tomli"} | optional
    assert {"websockify", "tomli"} <= wanted


def test_service_files():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(ROOT / "config" / "ponte-agent.service")
    assert "-m agents run --config" in unit["Service"]["ExecStart"]
    assert "3" in unit["Service"]["RestartPreventExitStatus"].split()  # revoked: do not restart
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    with open(ROOT / "config" / "com.ponte.agent.plist", "rb") as fh:
        plist = plistlib.load(fh)
    assert plist["Label"] == "com.ponte.agent"
    assert plist["ProgramArguments"][1:4] == ["-m", "agents", "run"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    docs = (ROOT / "docs" / "agent.md").read_text()
    for needle in ("Register-ScheduledTask", "ExecutionTimeLimit", "icacls", "launchctl", "systemctl",
                   "HTTPS_PROXY", "--pin-sha256", "--ca-bundle", "--no-deps"):
        assert needle in docs, needle


def test_run_refuses_a_plain_gateway_once_instead_of_retrying(tmp_path):
    save_credential(tmp_path / "credential", "http://127.0.0.1:9", "1.secret")
    res = run_agent_cli("run", "--credential-file", str(tmp_path / "credential"), timeout=20)
    assert res.returncode == 2
    assert "refusing plain http:// gateway http://127.0.0.1:9" in res.stderr
