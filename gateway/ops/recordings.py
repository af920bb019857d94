"""Deleting recordings: one (an admin), or those older than the retention (``purge``); audited."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from .. import recording, tenancy
from ..errors import Conflict, NotFound
from ..extensions import db
from ..models import SessionRecord, audit, utcnow
from ..recording.recorder import offload

log = logging.getLogger(__name__)


def delete_recording(session: str, *, actor: str = "cli", ip: str = "") -> None:
    """Delete ``session``'s recording file; its history row stays and says so."""
    record = db.session.get(SessionRecord, session)
    if record is None or not recording.playable(record.recording):
        raise NotFound("This session has no recording.")
    if record.recording == recording.RECORDING and record.ended_at is None:
        raise Conflict("This session is still being recorded: end it first.")
    offload(recording.storage().delete, session)
    record.recording = recording.DELETED
    audit("recording_delete", actor=actor, ip=ip, target=record.machine_name,
          detail=f"{session} ({record.user_name})")
    db.session.commit()


def purge(*, days: int | None = None, actor: str = "retention") -> list[str]:
    """Delete the recordings of sessions that ended more than ``days`` ago (default: the
    ``recording_retention_days`` setting; 0 keeps them forever). The sessions purged."""
    settings = current_app.config["PONTE"]
    days = settings.recording_retention_days if days is None else days
    if days <= 0:
        return []
    cutoff = utcnow() - timedelta(days=days)
    with tenancy.across_organisations():   # the retention is the gateway's: every firm's, each audited as its own
        rows = db.session.scalars(select(SessionRecord).where(
            SessionRecord.ended_at.is_not(None), SessionRecord.ended_at < cutoff,
            SessionRecord.recording != "", SessionRecord.recording != recording.DELETED)).all()
        store = recording.storage()
        purged = []
        for record in rows:
            offload(store.delete, record.id)
            record.recording = recording.DELETED
            audit("recording_delete", actor=actor, target=record.machine_name,
                  detail=f"{record.id} ({record.user_name}): older than {days} days",
                  organisation_id=record.organisation_id)
            purged.append(record.id)
        db.session.commit()
    return purged
