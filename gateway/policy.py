"""Who may be on a PC, for how long, when: the rules and how they combine (pure, no I/O).

Rules are set at three levels — the global default, a group, a PC — each field
on its own; a field left unset (``None``) at one level falls through to the
next. ``resolve`` combines them into the ``Decision`` for one person opening
one PC at one moment:

* **PC overrides group overrides global**, field by field.
* **Several groups.** A person may reach a PC through several of their groups
  (only groups the PC is granted to count; a direct grant adds no group rules).
  Among the groups that set a field: the *most permissive hours* (the union of
  their windows; "any time" if one of them says so), the *strictest limits*
  (the shortest idle timeout and maximum duration that is on) and the
  *strictest concurrency* (``exclusive`` before ``view_only_join`` before
  ``shared``). Hours are about when a person may work, so one group that lets
  them in is enough; limits and sharing protect the PC and the person already
  on it, so the most careful group wins.
* **Files and recording** follow the same PC → groups → global order; below
  the global policy lie the gateway's settings (``file_transfer``,
  ``recording``, ``recording_retention_days``: ``resolve``'s ``defaults``).
  Among several groups: files may go only the ways *every* such group allows
  (``both`` ∩ ``upload`` is ``upload``; ``upload`` ∩ ``download`` is ``none``),
  the session is *recorded if any* of them records, and its recording is kept
  for the *longest* of their retentions (0, forever, is longest). A compliance
  officer who restricts or records one group expects a person in that group
  to stay restricted and recorded whatever other group they also belong to;
  a PC's own setting is the admin's explicit word on that PC and decides.
* Unset everywhere: ``shared``, no idle timeout, no maximum duration, any time;
  files both ways, not recorded, kept 90 days (the settings' defaults).

Hours are weekly windows in the gateway's time zone (the ``timezone``
setting), written ``Mon-Fri 08:00-19:00; Sat 09:00-12:30``. A window whose end
is not after its start runs past midnight into the next day (``Mon-Fri
22:00-06:00``: Monday 22:00 to Tuesday 06:00, …). Windows are stored as that
text; ``parse_hours`` reads it, ``format_hours`` writes it back canonically.

A further switch: a ``Rules`` field, a nullable column on ``models.PolicyRule``,
and a line in ``resolve`` and ``_merge_groups``.

Raises ``PolicyError`` (``gateway.errors``, also a ValueError): a rule that cannot be —
unknown concurrency or file direction, bad hours, negative minutes or days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from .errors import PolicyError
from .terms import SessionTerms

CONCURRENCY = ("exclusive", "shared", "view_only_join")
#: Strictest first: the order in which several groups' concurrency settings win.
_STRICTNESS = ("exclusive", "view_only_join", "shared")
DEFAULT_CONCURRENCY = "shared"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Longest idle timeout / maximum duration an admin may set (a week), in minutes.
MAX_MINUTES = 7 * 24 * 60
#: Which way files may go between the viewer and the PC (``upload``: to the PC).
FILE_TRANSFER = ("both", "upload", "download", "none")
#: The directions each ``FILE_TRANSFER`` value lets files go (several groups: the intersection).
_DIRECTIONS = {"both": frozenset({"upload", "download"}), "upload": frozenset({"upload"}),
               "download": frozenset({"download"}), "none": frozenset()}
#: Longest recording retention an admin may set, in days (ten years); 0: forever.
MAX_RETENTION_DAYS = 3660


@dataclass(frozen=True)
class Window:
    """On ``days`` (0 = Monday) from ``start`` to ``end`` (minutes after midnight).

    ``end <= start``: the window runs past midnight into the next day."""

    days: frozenset
    start: int
    end: int

    def contains(self, weekday: int, minute: int) -> bool:
        if self.end > self.start:
            return weekday in self.days and self.start <= minute < self.end
        return ((weekday in self.days and minute >= self.start)
                or ((weekday - 1) % 7 in self.days and minute < self.end))


@dataclass(frozen=True)
class Rules:
    """One level's settings; ``None``: not set here, the next level decides.

    ``hours``: ``None`` not set, ``()`` any time, else the windows in which the PC may be opened.
    Minutes: 0 means off (no idle timeout, no maximum). ``file_transfer``: ``FILE_TRANSFER``;
    ``record``: the screen is recorded; ``retention_days``: days a recording is kept (0: forever)."""

    concurrency: str | None = None
    idle_timeout: int | None = None
    max_duration: int | None = None
    hours: tuple | None = None
    file_transfer: str | None = None
    record: bool | None = None
    retention_days: int | None = None

    def __post_init__(self):
        if self.concurrency is not None and self.concurrency not in CONCURRENCY:
            raise PolicyError(f"concurrency must be one of {', '.join(CONCURRENCY)}")
        if self.file_transfer is not None and self.file_transfer not in FILE_TRANSFER:
            raise PolicyError(f"file_transfer must be one of {', '.join(FILE_TRANSFER)}")
        if self.record is not None and not isinstance(self.record, bool):
            raise PolicyError("record must be true or false")
        if self.retention_days is not None and (
                isinstance(self.retention_days, bool) or not isinstance(self.retention_days, int)
                or not 0 <= self.retention_days <= MAX_RETENTION_DAYS):
            raise PolicyError(f"retention_days must be a whole number of days from 0 (forever) to "
                              f"{MAX_RETENTION_DAYS}")
        for name in ("idle_timeout", "max_duration"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value <= MAX_MINUTES):
                raise PolicyError(f"{name} must be a whole number of minutes from 0 (off) to {MAX_MINUTES}")


@dataclass(frozen=True)
class Decision:
    """What applies to one person opening one PC now."""

    concurrency: str = DEFAULT_CONCURRENCY
    idle_timeout: int = 0     # minutes, 0: off
    max_duration: int = 0     # minutes, 0: off
    hours: tuple = ()         # () any time
    allowed_now: bool = True  # ``now`` lies in ``hours``
    file_transfer: str = "both"
    record: bool = False
    retention_days: int = 90  # 0: forever

    def files_may(self, direction: str) -> bool:
        """Whether files may go ``direction`` (``upload``: to the PC; ``download``: from it)."""
        return direction in _DIRECTIONS[self.file_transfer]

    def terms(self, *, view_only: bool = False, kind: str = "user") -> SessionTerms:
        """The session terms for this decision (``SessionTerms`` counts seconds)."""
        return SessionTerms(view_only=view_only, idle_timeout=self.idle_timeout * 60,
                            max_duration=self.max_duration * 60, kind=kind)


def resolve(global_rules: Rules | None, groups, machine: Rules | None, now: datetime,
            zone: tzinfo | None = None, defaults: Rules | None = None) -> Decision:
    """The ``Decision`` from the global, the person's groups' (through which they reach
    the PC) and the PC's rules at ``now`` (aware; read in ``zone``, default ``now``'s own);
    ``defaults``: below the global, the gateway's settings (files, recording)."""
    group_rules = [g for g in groups if g is not None]
    levels = [machine or Rules(), _merge_groups(group_rules), global_rules or Rules(), defaults or Rules()]

    def pick(name, default):
        for level in levels:
            value = getattr(level, name)
            if value is not None:
                return value
        return default

    hours = pick("hours", ())
    local = now.astimezone(zone) if zone is not None else now
    return Decision(concurrency=pick("concurrency", DEFAULT_CONCURRENCY),
                    idle_timeout=pick("idle_timeout", 0), max_duration=pick("max_duration", 0),
                    hours=hours, allowed_now=within(hours, local),
                    file_transfer=pick("file_transfer", "both"), record=pick("record", False),
                    retention_days=pick("retention_days", 90))


def within(hours: tuple, local: datetime) -> bool:
    """Whether the local time ``local`` lies in ``hours`` (``()``: any time)."""
    if not hours:
        return True
    minute = local.hour * 60 + local.minute
    return any(w.contains(local.weekday(), minute) for w in hours)


def _merge_groups(rules: list) -> Rules:
    """Several groups' rules as one level (module docstring: permissive hours, strict limits,
    files only where all allow, recorded if any records, kept the longest)."""
    if not rules:
        return Rules()
    merged = Rules()
    concurrency = [r.concurrency for r in rules if r.concurrency is not None]
    if concurrency:
        merged = replace(merged, concurrency=min(concurrency, key=_STRICTNESS.index))
    for name in ("idle_timeout", "max_duration"):
        values = [getattr(r, name) for r in rules if getattr(r, name) is not None]
        if values:
            on = [v for v in values if v > 0]
            merged = replace(merged, **{name: min(on) if on else 0})
    ways = [_DIRECTIONS[r.file_transfer] for r in rules if r.file_transfer is not None]
    if ways:
        common = frozenset.intersection(*ways)
        merged = replace(merged, file_transfer=next(k for k, v in _DIRECTIONS.items() if v == common))
    record = [r.record for r in rules if r.record is not None]
    if record:
        merged = replace(merged, record=any(record))
    days = [r.retention_days for r in rules if r.retention_days is not None]
    if days:
        merged = replace(merged, retention_days=0 if 0 in days else max(days))
    hours = [r.hours for r in rules if r.hours is not None]
    if hours:
        if any(h == () for h in hours):
            merged = replace(merged, hours=())
        else:
            merged = replace(merged, hours=tuple(dict.fromkeys(w for h in hours for w in h)))
    return merged


# -- hours as text ------------------------------------------------------------------------------

_WINDOW = re.compile(r"^\s*(?P<days>[A-Za-z,\-\s]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")


def parse_hours(text: str | None) -> tuple | None:
    """Windows from ``Mon-Fri 08:00-19:00; Sat 09:00-12:00``; ``None`` for ``None``,
    ``()`` for an empty text (any time). ``PolicyError`` says what is wrong."""
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > 500:
        raise PolicyError("hours must be text such as 'Mon-Fri 08:00-19:00'")
    windows = []
    for part in (p for p in text.split(";") if p.strip()):
        match = _WINDOW.match(part)
        if match is None:
            raise PolicyError(f"cannot read {part.strip()!r}: write days and times, e.g. 'Mon-Fri 08:00-19:00'")
        start, end = _minute(match["start"]), _minute(match["end"])
        if start == end:
            raise PolicyError(f"{part.strip()!r}: the window starts and ends at the same time")
        windows.append(Window(_days(match["days"]), start, end))
    return tuple(dict.fromkeys(windows))


def format_hours(hours: tuple | None, day_names=DAYS) -> str:
    """``hours`` as ``parse_hours`` reads them (``day_names``: other words for the days, to show)."""
    if not hours:
        return ""
    return "; ".join(f"{_format_days(w.days, day_names)} {w.start // 60:02d}:{w.start % 60:02d}-"
                     f"{w.end // 60:02d}:{w.end % 60:02d}" for w in hours)


def _minute(text: str) -> int:
    hour, minute = (int(x) for x in text.split(":"))
    if hour == 24 and minute == 0:
        return 0  # "…-24:00": until midnight
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise PolicyError(f"{text} is not a time of day")
    return hour * 60 + minute


def _day(text: str) -> int:
    name = text.strip()[:3].capitalize()
    if name not in DAYS or len(text.strip()) < 3:
        raise PolicyError(f"{text.strip()!r} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
    return DAYS.index(name)


def _days(text: str) -> frozenset:
    days = set()
    for item in (i for i in text.split(",") if i.strip()):
        if "-" in item:
            first, _, last = item.partition("-")
            a, b = _day(first), _day(last)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            days.add(_day(item))
    if not days:
        raise PolicyError("name at least one day")
    return frozenset(days)


def _format_days(days: frozenset, names) -> str:
    """Runs of consecutive days as ranges: {0,1,2,3,4} → Mon-Fri, {0,2} → Mon,Wed."""
    runs, ordered = [], sorted(days)
    for day in ordered:
        if runs and day == runs[-1][1] + 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return ",".join(names[a] if a == b else f"{names[a]}-{names[b]}" for a, b in runs)
