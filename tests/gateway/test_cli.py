"""The CLI commands that map to the admin operations (``python -m gateway …``), in-process."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.cli import main


@pytest.fixture
def cli(tmp_path, redis_server, prefix, monkeypatch):
    for key in ("PONTE_CONFIG",):
        monkeypatch.delenv(key, raising=False)
    env = {"PONTE_INSTANCE_PATH": str(tmp_path / "cli"), "REDIS_URL": redis_server, "PONTE_REDIS_PREFIX": prefix,
           "PONTE_NEW_PASSWORD": "clipassword1"}
    runner = CliRunner()

    def run(*args, ok=True):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output
    return run


def test_cli_admin_commands(cli):
    cli("user", "add", "ann", "--admin")
    cli("user", "add", "bob")
    token = cli("user", "token", "ann", "--label", "backup", "--days", "3").strip()
    assert token.startswith("ponte_")
    assert "machine pc1" in cli("machine", "add", "pc1")
    assert "pc2" in cli("machine", "rename", "pc1", "pc2")
    assert "enrolment code: " in cli("machine", "code", "pc2")
    cli("grant", "bob", "pc2")
    cli("user", "disable", "bob")
    assert "bob\tdisabled" in cli("user", "list")
    cli("user", "enable", "bob")
    cli("user", "delete", "bob")
    assert "bob" not in cli("user", "list")
    assert "No live session" in cli("end", "nope", ok=False)
    assert "last active admin" in cli("user", "delete", "ann", ok=False)
