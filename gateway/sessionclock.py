"""When a session's idle timeout or maximum duration ends it, and when its viewer is warned.

Pure: the relay passes the monotonic time in (``check(now)``) and tells it
when the viewer last gave input (``input(now)``); this says whether the
session is over, which warnings are on (as wall-clock deadlines the viewer
page counts down to, via the live record and ``/api/v1/sessions/<id>/notices``)
and when to look again — so the relay wakes for it, not every second.

Warnings: the idle one for the last 60 s of the timeout (the last 20 % of a
timeout under 5 minutes, so a short one is not warned about from its start);
the maximum-duration one for the last 5 minutes (20 % likewise).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .terms import SessionTerms

IDLE_WARNING = 60.0
DURATION_WARNING = 300.0
WARNING_SHARE = 0.2
#: How often to look while a warning is on: input clears an idle warning within this.
WARNING_POLL = 1.0


def warning_window(limit: float, longest: float) -> float:
    """Seconds before the end of ``limit`` that its warning starts."""
    return min(longest, limit * WARNING_SHARE)


@dataclass(frozen=True)
class Verdict:
    """``end``: "idle" or "max_duration" once the session is over; ``notices``: the live
    record's ``idle_ends_at`` / ``ends_at`` (epoch seconds, "" when off), only when they changed."""

    end: str | None = None
    notices: dict | None = None


class SessionClock:
    def __init__(self, terms: SessionTerms, started: float, *, wall=time.time):
        self.idle_timeout = float(terms.idle_timeout)
        self.max_duration = float(terms.max_duration)
        self.started = started
        self.last_input = started  # the session's start counts as input: idle from there
        self._wall = wall
        self._shown = {"idle_ends_at": "", "ends_at": ""}

    @staticmethod
    def needed(terms: SessionTerms) -> bool:
        return terms.idle_timeout > 0 or terms.max_duration > 0

    def input(self, now: float) -> None:
        self.last_input = now

    def _deadlines(self) -> dict:
        out = {}
        if self.idle_timeout > 0:
            out["idle_ends_at"] = (self.last_input + self.idle_timeout,
                                   warning_window(self.idle_timeout, IDLE_WARNING))
        if self.max_duration > 0:
            out["ends_at"] = (self.started + self.max_duration,
                              warning_window(self.max_duration, DURATION_WARNING))
        return out

    def check(self, now: float) -> Verdict:
        deadlines = self._deadlines()
        if "ends_at" in deadlines and now >= deadlines["ends_at"][0]:
            return Verdict(end="max_duration")
        if "idle_ends_at" in deadlines and now >= deadlines["idle_ends_at"][0]:
            return Verdict(end="idle")
        shown = {}
        for field, (end, window) in deadlines.items():
            # Rounded to the second: re-written only when the deadline really moved.
            shown[field] = str(round(self._wall() + (end - now))) if now >= end - window else ""
        changed = {k: v for k, v in shown.items() if v != self._shown.get(k)}
        if changed and all(v == self._shown.get(k) or abs(_num(v) - _num(self._shown.get(k))) <= 1
                           for k, v in changed.items()):
            changed = {}  # jitter of the wall clock, not a new deadline
        self._shown.update(changed)
        return Verdict(notices=changed or None)

    def next_check(self, now: float) -> float:
        """The monotonic time to call ``check`` again (``inf``: never)."""
        soonest = math.inf
        for end, window in self._deadlines().values():
            soonest = min(soonest, now + WARNING_POLL if now >= end - window else end - window, end)
        return soonest


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.inf


def end_reasons(terms: SessionTerms) -> dict[str, str]:
    """Why ``terms``' limits end a session, as kept in the history: stable English sentences
    (scripts and the CSV match them), translated when shown (``gateway.end_reasons.shown``,
    which knows these exact sentences)."""
    idle = int(terms.idle_timeout)
    if idle % 60 == 0:
        minutes = idle // 60
        idle_text = f"Ended after {minutes} minute{'' if minutes == 1 else 's'} without input"
    else:
        idle_text = f"Ended after {idle} second{'' if idle == 1 else 's'} without input"
    return {"idle": idle_text, "max_duration": MAX_DURATION_REASON}


#: The maximum-duration end reason, as stored.
MAX_DURATION_REASON = "Maximum session length reached"
