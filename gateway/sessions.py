"""Session lifecycle: ticket issue, start, end — Redis while live, SQL after."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from flask import current_app

from .extensions import db
from .live import LiveStore, LiveStoreError, Ticket
from .models import Machine, SessionRecord, User, audit, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedSession:
    session: str
    ticket: str
    expires_in: int


def live() -> LiveStore:
    return current_app.extensions["ponte.live"]


def issue(user: User, machine: Machine, client_ip: str) -> IssuedSession:
    """A new session id and its one-time ticket (the caller checked the grant)."""
    settings = current_app.config["PONTE"]
    session = uuid.uuid4().hex
    store = live()
    store.session_pending(session, {
        "state": "pending", "user": user.name, "user_id": user.id,
        "machine": machine.name, "machine_id": machine.id, "client_ip": client_ip,
        "issued": time.time(),
    }, ttl=settings.ticket_ttl + int(settings.stream_timeout) + 30)
    ticket = store.issue_ticket(Ticket(session, user.id, machine.id), settings.ticket_ttl)
    return IssuedSession(session, ticket, settings.ticket_ttl)


def started(session: str, user: User, machine: Machine, client_ip: str, node: str) -> None:
    """Record a paired session: live in Redis, a history row in SQL."""
    now = time.time()
    db.session.add(SessionRecord(id=session, user_id=user.id, user_name=user.name,
                                 machine_id=machine.id, machine_name=machine.name,
                                 client_ip=client_ip, node=node))
    audit("session_start", actor=user.name, ip=client_ip, target=machine.name, detail=session)
    db.session.commit()
    try:
        live().session_started(session, machine.id, {
            "state": "live", "user": user.name, "user_id": user.id, "machine": machine.name,
            "machine_id": machine.id, "client_ip": client_ip, "node": node, "started": now,
            "bytes_to_viewer": 0, "bytes_from_viewer": 0,
        })
    except LiveStoreError as exc:
        # The session still works; admins will not see it live until Redis is back.
        log.warning("session %s not indexed live: %s", session, exc)


#: ``ended_by`` of a session the PC itself could not serve (e.g. its VNC
#: server refused the agent's password): retrying will not help.
ENDED_BY_PC = "the PC"


def ended(session: str, machine_id: int, *, to_viewer: int, from_viewer: int, reason: str,
          ended_by: str = "") -> None:
    """Close the history row (always) and drop the live record (best effort)."""
    record = db.session.get(SessionRecord, session)
    if record is not None and record.ended_at is None:
        record.ended_at = utcnow()
        if ended_by and not record.ended_by:
            record.ended_by = ended_by
        record.bytes_to_viewer = to_viewer
        record.bytes_from_viewer = from_viewer
        record.end_reason = reason[:255]
        audit("session_end", actor=record.user_name, ip=record.client_ip,
              target=record.machine_name, detail=f"{session}: {reason}"[:512])
        db.session.commit()
    try:
        live().session_ended(session, machine_id)
    except LiveStoreError as exc:
        log.warning("session %s not removed from live store: %s", session, exc)
