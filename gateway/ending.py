"""How a session ended, as its viewer hears it in the moment after its socket closed.

A viewer whose socket closes asks at once how its session ended
(``GET /api/v1/sessions/<id>``, ``/share/session/<id>``): after a dropped
link it reconnects, after a deliberate end it must not. The node writes the
history row's end only after closing the viewer's socket (the relay's
sockets first, then SQL, which may be slow or down), so the question could
arrive while the live record still says *live* — and an admin's end, a
take-over or a revoked share looked like a dropped link, and the viewer
came back. So before closing the viewer the node marks the live record
*ending*, with the reason, and the status routes read the end from it until
the row has it (for ``KEEP_UNWRITTEN`` if SQL could not take it: journaled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import gevent

from .live import LiveStore, LiveStoreError

log = logging.getLogger(__name__)

#: A live record's ``state`` between its relay's end and its history row's.
ENDING = "ending"
#: The longest the mark may hold up a viewer's close (Redis hung: the viewer is told at
#: once, and at worst reconnects, as before the mark).
MARK_WAIT = 0.5
#: How long a marked record outlives its session when SQL did not take the end (journaled):
#: the viewer's question comes within seconds; the journal writes the row once SQL is back.
KEEP_UNWRITTEN = 120


def fields(reason: str, ended_by: str = "") -> dict:
    """The live record's fields that say the session is ending, and how."""
    return {"state": ENDING, "end_reason": reason[:255], "ended_by": ended_by[:64]}


def mark(store: LiveStore, session: str, reason: str, ended_by: str = "") -> None:
    """Mark ``session``'s live record *ending* (best effort, at most ``MARK_WAIT``)."""

    def write() -> None:
        try:
            store.session_update(session, fields(reason, ended_by))
        except LiveStoreError as exc:
            log.info("session %s: end not marked in the live store: %s", session, exc)

    gevent.spawn(write).join(MARK_WAIT)


def is_ending(live: dict | None) -> bool:
    return live is not None and live.get("state") == ENDING


@dataclass(frozen=True)
class Seen:
    """A session's end as its status route tells it."""

    ended: bool
    reason: str
    ended_by: str


def seen(record, live: dict | None) -> Seen:
    """The end of ``record`` (a ``SessionRecord``), or — until the row has it — ``live``'s mark.

    Who ended it may already be on the row while the mark says why (an admin's
    end writes ``ended_by`` before the node ends the relay).
    """
    if record.ended_at is not None or not is_ending(live):
        return Seen(record.ended_at is not None, record.end_reason or "", record.ended_by or "")
    return Seen(True, live.get("end_reason", ""), record.ended_by or live.get("ended_by", ""))
