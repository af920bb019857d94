"""A recorded session's recording from its start to its end (``pairing`` calls ``begin`` and ``end``)."""

from __future__ import annotations

import logging
import time

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..models import SessionRecord
from . import RECORDED, storage_for
from .recorder import Recorder

log = logging.getLogger(__name__)


def begin(viewing, settings, live, live_fields: dict) -> Recorder | None:
    """A started recorder for ``viewing`` if its terms say to record, else None.

    A recording that stops early says why in the live record at once
    (``recording`` of ``session:<id>``: what the admin's live page shows)."""
    if not viewing.terms.record:
        return None
    session = viewing.session

    def stopped(reason: str) -> None:
        live_fields["recording"] = reason  # re-asserted whole after a Redis restart
        live.session_update(session, {"recording": reason})

    # Names from the live record, not the rows: the relay runs with no database session
    # (``Pairing.run`` removes it), where a row's expired attribute could not load.
    meta = {"session": session, "machine": live_fields["machine"], "user": live_fields["user"],
            "node": settings.node_id, "started": time.time()}
    return Recorder(storage_for(settings), session, meta, on_stop=stopped).start()


def end(recorder: Recorder | None, session: str) -> str | None:
    """Finish the file and put what became of it in the history; the status, or None if not recorded."""
    if recorder is None:
        return None
    status = recorder.close() or RECORDED
    try:
        db.session.execute(update(SessionRecord).where(SessionRecord.id == session).values(recording=status[:255]))
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("session %s: recording status %r not in the history: %s", session, status, exc)
    return status
