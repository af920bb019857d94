"""What a person reads about a PC's policy: "In use by emp since 9:12", outside the allowed hours.

The portal tile of a PC someone else is on names them (Redis: whichever node
relays them); a PC the person may not open at this hour is ``outside_hours``
(not available, the tile says when it is) — that depends on the person, since
their groups' hours count (``ops.policy.decide``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from flask import current_app
from flask_babel import format_time, gettext as _

from . import policy, takeover
from .i18n import noop as _n
from .live import LiveStoreError
from .machine_status import MachineStatus, statuses
from .models import Machine, User
from .ops import policy as policy_ops

#: The days as the messages name them (translated when shown).
DAY_NAMES = (_n("Mon"), _n("Tue"), _n("Wed"), _n("Thu"), _n("Fri"), _n("Sat"), _n("Sun"))


def hours_text(hours: tuple) -> str:
    """The allowed windows in the reader's words: "Mon-Fri 08:00-19:00"."""
    return policy.format_hours(hours, tuple(_(d) for d in DAY_NAMES))


def zone_name() -> str:
    return current_app.config["PONTE"].timezone or _("local")


def _since(started) -> str:
    try:
        moment = datetime.fromtimestamp(float(started), timezone.utc)
    except (TypeError, ValueError):
        return "?"
    return format_time(moment, "short")


def in_use_message(row: dict) -> str:
    """"In use by emp since 9:12" for a live session's record (or an opening hold)."""
    return _("In use by %(person)s since %(time)s", person=row.get("user", "?"), time=_since(row.get("started")))


def outside_hours_message(hours: tuple) -> str:
    return _("Outside the allowed hours: %(hours)s (%(zone)s time)", hours=hours_text(hours), zone=zone_name())


def for_person(user: User, machines: list[Machine]) -> list[MachineStatus]:
    """``machine_status.statuses`` as ``user`` should read them: who else is on a PC in use,
    and ``outside_hours`` (not available) for a PC they may not open now."""
    out = []
    live = current_app.extensions["ponte.live"]
    for machine, status in zip(machines, statuses(machines)):
        if status.state in ("online", "in_use"):
            decision = policy_ops.decide(user, machine)
            if not decision.allowed_now:
                status = replace(status, state="outside_hours", message=outside_hours_message(decision.hours))
            elif status.state == "in_use":
                try:
                    others = [r for r in takeover.occupants(live, machine.id) if r.get("user_id") != str(user.id)]
                except LiveStoreError:
                    others = []
                if others:
                    status = replace(status, message=in_use_message(others[0]))
        out.append(status)
    return out
