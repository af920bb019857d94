"""Session lifecycle: ticket issue, start, end — Redis while live, SQL after.

The end of a session is recorded whatever failed (DESIGN.md §3):
``record_end`` closes the row only if it is still open, so the view that
ran the session, the node's journal (``journal``) and a survivor closing a
dead node's sessions (``reaper``) may all try; the first one wins.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from . import ending, tenancy
from .extensions import db
from .scoping import acting_organisation
from .journal import EndRecord
from .live import LiveStore, LiveStoreError, Ticket
from .guests import TICKET_PREFIX as GUEST_TICKET_PREFIX
from .models import Machine, SessionRecord, User, audit
from .quality import SessionQuality, from_live
from .terms import SessionTerms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedSession:
    session: str
    ticket: str
    expires_in: int


def live() -> LiveStore:
    return current_app.extensions["ponte.live"]


def issue(user: User, machine: Machine, client_ip: str, terms: SessionTerms = SessionTerms()) -> IssuedSession:
    """A new session id and its one-time ticket carrying ``terms`` (the caller checked the grant).

    ``user`` may be a ``guests.Guest`` (the caller checked its share link): its ticket is then
    bound to the guest and starts with ``guests.TICKET_PREFIX``."""
    settings = current_app.config["PONTE"]
    session = uuid.uuid4().hex
    store = live()
    store.session_pending(session, {
        "state": "pending", "user": user.name, "user_id": user.id,
        "machine": machine.name, "machine_id": machine.id, "client_ip": client_ip,
        "org": machine.organisation_id,   # whose session it is (live.visible)
        "issued": time.time(), "view_only": int(terms.view_only), "kind": terms.kind, **_guest_fields(user),
    }, ttl=settings.ticket_ttl + int(settings.stream_timeout) + 30)
    guest = getattr(user, "binding", "")  # a guests.Guest: the ticket is good only with its cookie
    ticket = store.issue_ticket(Ticket(session, user.id, machine.id, terms, guest,
                                           machine.organisation_id), settings.ticket_ttl)
    if guest:
        ticket = GUEST_TICKET_PREFIX + ticket
    return IssuedSession(session, ticket, settings.ticket_ttl)


def _guest_fields(user) -> dict:
    """The share link a guest's session came through (``ops.shares`` ends them by it)."""
    link_id = getattr(user, "link_id", None)
    return {"share_id": link_id} if link_id is not None else {}


def started(session: str, user: User, machine: Machine, client_ip: str, node: str,
            terms: SessionTerms = SessionTerms()) -> dict:
    """Record a paired session: a history row in SQL, then live in Redis.

    Returns the live record's fields (the node re-asserts them after a
    Redis restart). Raises ``SQLAlchemyError`` if SQL did not take the row:
    a session that cannot be recorded does not start.
    """
    now = time.time()
    db.session.add(SessionRecord(id=session, user_id=user.id, user_name=user.name,
                                 machine_id=machine.id, machine_name=machine.name,
                                 client_ip=client_ip, node=node, started_at=_utc(now),
                                 recording="recording" if terms.record else ""))
    audit("session_start", actor=user.name, ip=client_ip, target=machine.name, detail=session)
    try:
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        raise
    fields = {"state": "live", "user": user.name, "user_id": user.id, "machine": machine.name,
              "machine_id": machine.id, "client_ip": client_ip, "node": node, "started": now,
              "org": machine.organisation_id,
              "view_only": int(terms.view_only), "kind": terms.kind, **_guest_fields(user)}
    if terms.record:
        fields["recording"] = "recording"  # gateway.recording.RECORDING; a stop writes its reason here
    try:
        live().session_started(session, machine.id, {**fields, "bytes_to_viewer": 0, "bytes_from_viewer": 0})
    except LiveStoreError as exc:
        # The session still works; it is re-asserted as soon as Redis answers again.
        log.warning("session %s not indexed live: %s", session, exc)
    return fields


#: ``ended_by`` of a session the PC itself could not serve (e.g. its VNC
#: server refused the agent's password): retrying will not help.
ENDED_BY_PC = "the PC"
#: ``ended_by`` of a session its terms ended (idle timeout, maximum duration): not reconnected.
ENDED_BY_TERMS = "the gateway"
#: Why the sessions of a node that died were closed (by a survivor, or by itself at its next start).
NODE_STOPPED = "gateway node stopped"


def end_record(session: str, fields: dict, *, to_viewer: int, from_viewer: int, reason: str,
               ended_by: str = "", ended_at: float | None = None,
               quality: SessionQuality | None = None) -> EndRecord:
    """The end of ``session`` whose live record is ``fields`` (as in Redis: strings welcome);
    ``quality`` as its relay measured it (default: what ``fields`` say of it)."""
    quality = quality if quality is not None else from_live(fields)
    return EndRecord(session=session, ended_at=ended_at or time.time(), to_viewer=int(to_viewer),
                     from_viewer=int(from_viewer), reason=reason[:255], ended_by=ended_by[:64],
                     machine_id=_int(fields.get("machine_id")), machine_name=str(fields.get("machine", "")),
                     user_id=_int(fields.get("user_id")), user_name=str(fields.get("user", "")),
                     client_ip=str(fields.get("client_ip", "")), node=str(fields.get("node", "")),
                     started_at=_float(fields.get("started")), **dataclasses.asdict(quality))


def ended(session: str, machine_id: int, *, to_viewer: int, from_viewer: int, reason: str,
          ended_by: str = "", fields: dict | None = None) -> bool:
    """Close the history row (always, see ``finish``) and drop the live record.

    ``fields``: the session's live record, for the journal should SQL be
    down (default: what Redis has).
    """
    if fields is None:
        try:
            fields = live().session(session) or {}
        except LiveStoreError:
            fields = {}
    return finish(end_record(session, {**fields, "machine_id": machine_id}, to_viewer=to_viewer,
                             from_viewer=from_viewer, reason=reason, ended_by=ended_by))


def finish(record: EndRecord) -> bool:
    """Close the history row — now, or from the node's journal once SQL takes it —
    and drop the live record (best effort). True if SQL has it now."""
    written = True
    try:
        record_end(record)
    except SQLAlchemyError as exc:
        log.warning("session %s: end not written to SQL (%s); journaled for retry", record.session, exc)
        current_app.extensions["ponte.hub"].journal_end(record)
        written = False
    if record.machine_id is not None:
        # Until SQL has the end, the live record says it (the viewer asks: ``ending``).
        keep = None if written else ending.fields(record.reason, record.ended_by)
        try:
            live().session_ended(record.session, record.machine_id, keep=keep, keep_for=ending.KEEP_UNWRITTEN)
        except LiveStoreError as exc:
            log.warning("session %s not removed from live store: %s", record.session, exc)
    return written


def record_end(record: EndRecord, *, _again: bool = True) -> bool:
    """Write ``record`` to SQL if the row is still open (create it closed if it is
    missing); True if this call closed it. Raises ``SQLAlchemyError`` if SQL is down.

    One conditional UPDATE, so two nodes closing the same row cannot both win. Written as the
    session's organisation, whoever closes it (a request, the hub, the reaper, the journal).
    """
    with tenancy.acting_for(_organisation_of(record)):
        return _record_end(record, _again=_again)


def _organisation_of(record: EndRecord) -> int:
    """The firm of the session's history row, or of its PC when the row never reached SQL."""
    with tenancy.across_organisations():
        row = db.session.get(SessionRecord, record.session)
        if row is not None:
            return row.organisation_id
        machine = db.session.get(Machine, record.machine_id) if record.machine_id is not None else None
    return machine.organisation_id if machine is not None else acting_organisation()


def _record_end(record: EndRecord, *, _again: bool) -> bool:
    values = {"ended_at": _utc(record.ended_at), "bytes_to_viewer": record.to_viewer,
              "bytes_from_viewer": record.from_viewer, "end_reason": record.reason[:255],
              **_quality_values(record)}
    try:
        closed = db.session.execute(
            update(SessionRecord).where(SessionRecord.id == record.session, SessionRecord.ended_at.is_(None))
            .values(**values).execution_options(synchronize_session=False)).rowcount
        if closed and record.ended_by:
            db.session.execute(update(SessionRecord).where(SessionRecord.id == record.session,
                                                           SessionRecord.ended_by == "")
                               .values(ended_by=record.ended_by).execution_options(synchronize_session=False))
        if not closed and db.session.get(SessionRecord, record.session) is None:
            # Its start never reached SQL (or was lost): the history still gets it.
            db.session.add(SessionRecord(
                id=record.session, user_id=record.user_id, user_name=record.user_name[:64],
                machine_id=record.machine_id, machine_name=record.machine_name[:64],
                client_ip=record.client_ip[:64], node=record.node[:128], ended_by=record.ended_by,
                started_at=_utc(record.started_at or record.ended_at), **values))
            closed = 1
        if closed:
            audit("session_end", actor=record.user_name, ip=record.client_ip, target=record.machine_name,
                  detail=f"{record.session}: {record.reason}"[:512])
        db.session.commit()
        return bool(closed)
    except IntegrityError:
        db.session.rollback()
        if not _again:
            raise
        return _record_end(record, _again=False)  # created meanwhile by someone else: closed or open
    except SQLAlchemyError:
        db.session.rollback()
        raise


def _quality_values(record: EndRecord) -> dict:
    """The quality columns ``record`` has figures for (a second closer knowing none keeps none)."""
    values = {name: getattr(record, name) for name in QUALITY_COLUMNS}
    values["encoding"] = values["encoding"][:32]
    return {k: v for k, v in values.items() if v not in (None, "")}


#: ``SessionRecord`` columns of a session's quality (``quality.SessionQuality``'s fields).
QUALITY_COLUMNS = tuple(f.name for f in dataclasses.fields(SessionQuality))


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
