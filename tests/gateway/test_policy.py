"""The policy rules and how they combine (``gateway.policy``): tables, a frozen clock."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from gateway.policy import Decision, PolicyError, Rules, format_hours, parse_hours, resolve, within

ROME = ZoneInfo("Europe/Rome")
# Tuesday 1 December 2026, 10:00 in Rome (09:00 UTC)
TUESDAY_10 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
OFFICE = parse_hours("Mon-Fri 08:00-19:00")
SATURDAY = parse_hours("Sat 09:00-12:00")


@pytest.mark.parametrize("text, canonical", [
    ("Mon-Fri 08:00-19:00", "Mon-Fri 08:00-19:00"),
    ("mon-fri 8:00 - 19:00", "Mon-Fri 08:00-19:00"),
    ("Mon,Wed,Fri 09:00-12:00; Sat 10:00-11:30", "Mon,Wed,Fri 09:00-12:00; Sat 10:00-11:30"),
    ("Mon,Tue,Wed 09:00-12:00", "Mon-Wed 09:00-12:00"),
    ("Sat-Mon 22:00-06:00", "Mon,Sat-Sun 22:00-06:00"),
    ("Monday-Friday 07:30-24:00", "Mon-Fri 07:30-00:00"),
    ("", ""),
])
def test_hours_text_round_trip(text, canonical):
    assert format_hours(parse_hours(text)) == canonical
    assert parse_hours(format_hours(parse_hours(text))) == parse_hours(text)


@pytest.mark.parametrize("text", [
    "Mon-Fri", "08:00-19:00", "Fun 08:00-19:00", "Mon 25:00-26:00", "Mon 08:00-08:00", "Mon 8-19",
    "Mon 08:61-09:00", "x" * 501,
])
def test_unreadable_hours_are_refused(text):
    with pytest.raises(PolicyError):
        parse_hours(text)


@pytest.mark.parametrize("hours, local, inside", [
    ("Mon-Fri 08:00-19:00", datetime(2026, 12, 1, 10, 0), True),     # Tuesday
    ("Mon-Fri 08:00-19:00", datetime(2026, 12, 1, 7, 59), False),
    ("Mon-Fri 08:00-19:00", datetime(2026, 12, 1, 19, 0), False),    # the end is not inside
    ("Mon-Fri 08:00-19:00", datetime(2026, 12, 1, 18, 59), True),
    ("Mon-Fri 08:00-19:00", datetime(2026, 12, 5, 10, 0), False),    # Saturday
    ("Mon-Fri 22:00-06:00", datetime(2026, 12, 1, 23, 0), True),     # Tuesday night
    ("Mon-Fri 22:00-06:00", datetime(2026, 12, 5, 5, 0), True),      # Saturday morning: Friday's night
    ("Mon-Fri 22:00-06:00", datetime(2026, 11, 30, 5, 0), False),    # Monday morning: Sunday is not in it
    ("Mon-Fri 22:00-06:00", datetime(2026, 12, 1, 12, 0), False),
    ("", datetime(2026, 12, 6, 3, 0), True),                          # any time
])
def test_within(hours, local, inside):
    assert within(parse_hours(hours), local) is inside


G = Rules  # brevity in the tables


@pytest.mark.parametrize("glob, groups, machine, expected", [
    # nothing set anywhere: shared, no limits, any time
    (None, [], None, Decision()),
    # global only
    (G("exclusive", 10, 60, OFFICE), [], None, Decision("exclusive", 10, 60, OFFICE, True)),
    # a group overrides the global field by field; unset fields fall through
    (G("exclusive", 10, 60, OFFICE), [G(concurrency="shared")], None, Decision("shared", 10, 60, OFFICE, True)),
    # the PC overrides the group and the global
    (G("exclusive", 10), [G(idle_timeout=5)], G(idle_timeout=30, concurrency="view_only_join"),
     Decision("view_only_join", 30, 0, (), True)),
    # the PC may switch a limit off (0) that the global sets
    (G(max_duration=60), [], G(max_duration=0), Decision(max_duration=0)),
    # several groups: the strictest limit that is on
    (None, [G(idle_timeout=30), G(idle_timeout=10), G(idle_timeout=0)], None, Decision(idle_timeout=10)),
    (None, [G(max_duration=0), G(max_duration=0)], None, Decision(max_duration=0)),
    (G(max_duration=45), [G(max_duration=0), G()], None, Decision(max_duration=0)),
    # several groups: the strictest concurrency
    (None, [G("shared"), G("view_only_join")], None, Decision("view_only_join")),
    (None, [G("view_only_join"), G("exclusive"), G("shared")], None, Decision("exclusive")),
    # several groups: the most permissive hours (union; "any time" wins)
    (G(hours=OFFICE), [G(hours=SATURDAY), G(hours=OFFICE)], None, Decision(hours=SATURDAY + OFFICE)),
    (G(hours=OFFICE), [G(hours=SATURDAY), G(hours=())], None, Decision(hours=())),
    # a group that sets no hours does not loosen the global's
    (G(hours=SATURDAY), [G(idle_timeout=5)], None, Decision(idle_timeout=5, hours=SATURDAY, allowed_now=False)),
    # the PC's hours replace the groups'
    (None, [G(hours=())], G(hours=SATURDAY), Decision(hours=SATURDAY, allowed_now=False)),
])
def test_resolve(glob, groups, machine, expected):
    assert resolve(glob, groups, machine, TUESDAY_10, ROME) == expected


@pytest.mark.parametrize("now, allowed", [
    (datetime(2026, 12, 1, 6, 59, tzinfo=timezone.utc), False),   # 07:59 in Rome
    (datetime(2026, 12, 1, 7, 0, tzinfo=timezone.utc), True),     # 08:00 in Rome
    (datetime(2026, 12, 1, 17, 59, tzinfo=timezone.utc), True),   # 18:59
    (datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc), False),   # 19:00
    (datetime(2026, 7, 1, 6, 0, tzinfo=timezone.utc), True),      # summer time: 08:00 in Rome
])
def test_hours_are_read_in_the_gateways_zone(now, allowed):
    assert resolve(G(hours=OFFICE), [], None, now, ROME).allowed_now is allowed


def test_terms_count_seconds():
    terms = Decision(idle_timeout=10, max_duration=90).terms(view_only=True)
    assert (terms.view_only, terms.idle_timeout, terms.max_duration, terms.kind) == (True, 600, 5400, "user")


@pytest.mark.parametrize("kwargs", [{"concurrency": "solo"}, {"idle_timeout": -1}, {"max_duration": 10**6},
                                    {"idle_timeout": True}, {"max_duration": "5"}])
def test_impossible_rules_are_refused(kwargs):
    with pytest.raises(PolicyError):
        Rules(**kwargs)


# -- files and recording (issue 15): PC → groups → global → the gateway's settings -------------

SETTINGS = G(file_transfer="both", record=False, retention_days=90)


@pytest.mark.parametrize("glob, groups, machine, defaults, expected", [
    # nothing set anywhere, no settings given: both ways, not recorded, 90 days
    (None, [], None, None, ("both", False, 90)),
    # the settings are the level below the global policy
    (None, [], None, G(file_transfer="none", record=True, retention_days=30), ("none", True, 30)),
    # the global overrides the settings; a group the global; the PC the group
    (G(file_transfer="upload"), [], None, SETTINGS, ("upload", False, 90)),
    (G(file_transfer="upload", record=True), [G(file_transfer="download")], None, SETTINGS, ("download", True, 90)),
    (G(record=True), [G(record=True)], G(record=False, file_transfer="both"), SETTINGS, ("both", False, 90)),
    (G(retention_days=30), [G(retention_days=365)], G(retention_days=7), SETTINGS, ("both", False, 7)),
    # several groups, files: only the ways every one of them allows
    (None, [G(file_transfer="both"), G(file_transfer="upload")], None, SETTINGS, ("upload", False, 90)),
    (None, [G(file_transfer="upload"), G(file_transfer="download")], None, SETTINGS, ("none", False, 90)),
    (None, [G(file_transfer="both"), G(file_transfer="both")], None, SETTINGS, ("both", False, 90)),
    (None, [G(file_transfer="download"), G(file_transfer="none")], None, SETTINGS, ("none", False, 90)),
    # a group that says nothing about files does not loosen or tighten the others
    (G(file_transfer="none"), [G(file_transfer="upload"), G(idle_timeout=5)], None, SETTINGS, ("upload", False, 90)),
    # several groups, recording: on if any of them records, even when another says off
    (None, [G(record=False), G(record=True)], None, SETTINGS, ("both", True, 90)),
    (G(record=True), [G(record=False), G(record=False)], None, SETTINGS, ("both", False, 90)),
    # several groups, retention: the longest; 0 (for ever) is the longest
    (None, [G(retention_days=30), G(retention_days=365)], None, SETTINGS, ("both", False, 365)),
    (None, [G(retention_days=30), G(retention_days=0)], None, SETTINGS, ("both", False, 0)),
    # the PC may switch recording off and keep for ever against the groups and the global
    (G(record=True, retention_days=10), [G(record=True)], G(record=False, retention_days=0), SETTINGS,
     ("both", False, 0)),
])
def test_resolve_files_and_recording(glob, groups, machine, defaults, expected):
    d = resolve(glob, groups, machine, TUESDAY_10, ROME, defaults)
    assert (d.file_transfer, d.record, d.retention_days) == expected


@pytest.mark.parametrize("ways, upload, download", [
    ("both", True, True), ("upload", True, False), ("download", False, True), ("none", False, False)])
def test_which_way_files_may_go(ways, upload, download):
    d = Decision(file_transfer=ways)
    assert (d.files_may("upload"), d.files_may("download")) == (upload, download)


@pytest.mark.parametrize("kwargs", [{"file_transfer": "sideways"}, {"file_transfer": True}, {"record": "yes"},
                                    {"record": 1}, {"retention_days": -1}, {"retention_days": 4000},
                                    {"retention_days": True}, {"retention_days": "30"}])
def test_impossible_file_and_recording_rules_are_refused(kwargs):
    with pytest.raises(PolicyError):
        Rules(**kwargs)
