"""The CLI commands that map to the admin operations (``python -m gateway …``), in-process."""

from __future__ import annotations





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
