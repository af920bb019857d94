"""``python -m gateway policy show|set`` on an instance of the test's own."""

from __future__ import annotations


def test_policy_from_the_cli(cli):
    cli("user", "add", "emp")
    cli("machine", "add", "desk-1")
    assert cli("policy", "show") == "global: nothing set\n"
    assert cli("policy", "set", "--concurrency", "exclusive", "--hours", "mon-fri 8:00-19:00") == \
        "global: concurrency=exclusive, hours=Mon-Fri 08:00-19:00\n"
    assert cli("policy", "set", "--machine", "desk-1", "--idle-timeout", "15", "--hours", "") == \
        "machine:desk-1: idle_timeout=15, hours=any time\n"
    assert cli("policy", "set", "--machine", "desk-1", "--unset", "hours") == "machine:desk-1: idle_timeout=15\n"
    cli("grant", "emp", "desk-1")
    shown = cli("policy", "show", "--machine", "desk-1", "--for", "emp")
    assert shown.splitlines()[1].startswith(
        "for emp now: concurrency=exclusive, idle_timeout=15, max_duration=0, hours=Mon-Fri 08:00-19:00, ")
    assert "not a time of day" in cli("policy", "set", "--hours", "Mon 25:00-26:00", ok=False)
    assert "nothing to change" in cli("policy", "set", "--machine", "desk-1", ok=False)
    assert "No group" in cli("policy", "set", "--group", "nobody", "--max-duration", "5", ok=False)


def test_files_and_recording_from_the_cli(cli):
    cli("user", "add", "emp")
    cli("machine", "add", "desk-1")
    cli("grant", "emp", "desk-1")
    assert cli("policy", "set", "--machine", "desk-1", "--file-transfer", "upload", "--record", "on",
               "--retention-days", "30") == "machine:desk-1: file_transfer=upload, record=on, retention_days=30\n"
    shown = cli("policy", "show", "--machine", "desk-1", "--for", "emp").splitlines()[1]
    assert shown.endswith("file_transfer=upload, record=on, retention_days=30")
    assert cli("policy", "set", "--machine", "desk-1", "--record", "off", "--unset", "file_transfer") == \
        "machine:desk-1: record=off, retention_days=30\n"
    shown = cli("policy", "show", "--machine", "desk-1", "--for", "emp").splitlines()[1]
    assert shown.endswith("file_transfer=both, record=off, retention_days=30")   # the setting's both
    assert "retention_days must be" in cli("policy", "set", "--retention-days", "-1", ok=False)
    assert "Invalid value" in cli("policy", "set", "--file-transfer", "sideways", ok=False)
