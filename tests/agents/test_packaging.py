"""``pyproject.toml``: ``pip install`` of the agent gives the ``ponte-agent`` command and the
``agents`` package (``python -m agents``), and nothing of the gateway.

Built for real in a fresh virtualenv from a copy of just what the distribution needs (so the
build leaves nothing in the checkout). pip fetches setuptools for the isolated build and websockify: without the
package index the test is skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_pyproject_names_the_console_script_and_only_the_agent_packages():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["scripts"] == {"ponte-agent": "agents.__main__:main"}
    assert meta["project"]["requires-python"] == ">=3.10"
    assert meta["tool"]["setuptools"]["packages"]["find"]["include"] == ["agents", "agents.*"]
    # every dependency is one of requirements-agent.txt's
    pinned = {line.split("==")[0].strip().lower() for line in (ROOT / "requirements-agent.txt").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")}
    declared = {d.split(">=")[0].split(";")[0].strip().lower() for d in meta["project"]["dependencies"]}
    assert declared == pinned == {"websockify", "tomli"}


def test_pip_install_gives_ponte_agent_and_python_m_agents(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    (src / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "agent.md", src / "docs")
    shutil.copytree(ROOT / "agents", src / "agents", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=180)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PONTE_", "VIRTUAL_ENV"))}
    # --no-deps as docs/agent.md says (websockify's own dependencies are for its server side)
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                          "--disable-pip-version-check", "-r", str(ROOT / "requirements-agent.txt"), str(src)],
                         env=env, capture_output=True, text=True, timeout=300)
    if res.returncode != 0 and "No matching distribution found for" in res.stdout + res.stderr:
        pytest.skip("the package index is out of reach: pip cannot fetch setuptools or websockify")
    assert res.returncode == 0, res.stdout + res.stderr
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    run = lambda *cmd: subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    script = run(str(venv / "bin" / "ponte-agent"), "--help")
    assert script.returncode == 0 and "install" in script.stdout and "enroll" in script.stdout, script.stderr
    module = run(str(venv / "bin" / "python"), "-m", "agents", "--version")
    assert module.returncode == 0 and module.stdout.strip() == __import__("agents").__version__
    found = run(str(venv / "bin" / "python"), "-c",
                "import importlib.util as u; print(u.find_spec('agents.protocol.rfb').origin, u.find_spec('gateway'))")
    origin, gateway = found.stdout.split()
    assert origin.startswith(str(venv)) and gateway == "None"
