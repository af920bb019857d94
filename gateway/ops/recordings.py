"""Deleting recordings: one (an admin), or those older than the retention (``purge``); audited."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from .. import recording, tenancy
from ..errors import Conflict, NotFound
from ..extensions import db
from ..models import SessionRecord, audit, utcnow
from . import policy as policy_ops
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
    """Delete the recordings of sessions that ended more than ``days`` ago (0 keeps them
    forever). Default: each session's own retention, from its PC's policy (the PC's, the
    person's groups', the global, the ``recording_retention_days`` setting:
    ``ops.policy.retention_days``). The sessions purged."""
    if days is not None and days <= 0:
        return []
    now = utcnow()
    query = select(SessionRecord).where(
        SessionRecord.ended_at.is_not(None), SessionRecord.recording != "",
        SessionRecord.recording != recording.DELETED)
    if days is not None:
        query = query.where(SessionRecord.ended_at < now - timedelta(days=days))
    kept_for: dict = {}  # (firm, machine, person) → days: one policy decision per pair, not per session
    purged = []
    with tenancy.across_organisations():   # the retention is the gateway's: every firm's, each audited as its own
        rows = db.session.scalars(query).all()
        store = recording.storage()
        for record in rows:
            if days is None:
                pair = (record.organisation_id, record.machine_id, record.user_id)
                if pair not in kept_for:
                    with tenancy.acting_for(record.organisation_id):   # that firm's policy
                        kept_for[pair] = policy_ops.retention_days(record.machine_id, record.user_id)
                limit = kept_for[pair]
            else:
                limit = days
            if limit <= 0 or record.ended_at >= now - timedelta(days=limit):
                continue
            offload(store.delete, record.id)
            record.recording = recording.DELETED
            audit("recording_delete", actor=actor, target=record.machine_name,
                  detail=f"{record.id} ({record.user_name}): older than {limit} days",
                  organisation_id=record.organisation_id)
            purged.append(record.id)
        db.session.commit()
    return purged
