"""What admins read: live sessions, session history, the audit log, login attacks, and CSV exports.

Shared by the admin pages and the JSON API. Query builders take the filter
arguments as given (``request.args`` or a dict) and raise ``ops.AdminError``
for a bad date; CSV exports stream, a batch of rows at a time, so a large
history is never one string in memory on the gateway's loop.
"""

from __future__ import annotations

import csv
import io
import itertools
import time
from datetime import datetime, timedelta, timezone

from flask import Response, stream_with_context
from sqlalchemy import select

from . import quality, sessions, tenancy
from .auth import ACCOUNT_PREFIX, throttle
from .extensions import db
from .live import LiveStoreError
from .models import AuditEvent, SessionRecord, User
from .ops import AdminError
from .scoping import acting_organisation
from .throttle import normalise_account

#: Rows fetched from SQL and written to the client per step of a CSV export.
CSV_BATCH = 500


def iso(value: datetime | None) -> str | None:
    """A naive UTC datetime as ISO 8601 with ``Z``; ``None`` stays ``None``."""
    return value.isoformat() + "Z" if value else None


def iso_epoch(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def duration(r: SessionRecord) -> int | None:
    """Seconds an ended session lasted; ``None`` while it is open."""
    return int((r.ended_at - r.started_at).total_seconds()) if r.ended_at else None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- live sessions -------------------------------------------------------------------------------

def record_state(r: SessionRecord, live_ids: set | None) -> str:
    """``ended``; ``live`` (in the live index); ``stale``: open in SQL with nothing live
    behind it (its node stopped, being closed); ``open`` when Redis cannot say."""
    if r.ended_at is not None:
        return "ended"
    if live_ids is None:
        return "open"
    return "live" if r.id in live_ids else "stale"


def live_ids_or_none() -> set | None:
    """Ids of the live sessions, or ``None`` when Redis cannot say."""
    try:
        return sessions.live().live_ids()
    except LiveStoreError:
        return None


def live_session_rows() -> list[dict]:
    """Live sessions as admins see them (user, machine, IP, start, duration, bytes).

    Rows open in the history with nothing live behind them (their node
    stopped; survivors close them within a node TTL) follow, as ``stale``.
    """
    now = time.time()
    out = []
    for s in sessions.live().live_sessions():
        started = float(s.get("started") or s.get("issued") or now)
        out.append({"id": s["id"], "state": s.get("state", ""), "user": s.get("user", ""),
                    "user_id": _int(s.get("user_id")), "machine": s.get("machine", ""),
                    "machine_id": _int(s.get("machine_id")), "client_ip": s.get("client_ip", ""),
                    "node": s.get("node", ""), "started": started,
                    "started_at": iso_epoch(started), "duration_s": max(0, int(now - started)),
                    "bytes_to_viewer": _int(s.get("bytes_to_viewer")) or 0,
                    "bytes_from_viewer": _int(s.get("bytes_from_viewer")) or 0,
                    "quality": quality_json(s),
                    # a guest's session (issue 14): who is watching through which share link
                    "kind": s.get("kind", "user"), "share_id": _int(s.get("share_id")),
                    # "" not recorded, "recording", or why recording stopped (gateway/recording/)
                    "recording": s.get("recording", "")})
    seen = {row["id"] for row in out}
    for r in db.session.scalars(select(SessionRecord).where(SessionRecord.ended_at.is_(None))
                                .order_by(SessionRecord.started_at)):
        if r.id in seen:
            continue
        started = r.started_at.replace(tzinfo=timezone.utc).timestamp()
        out.append({"id": r.id, "state": "stale", "user": r.user_name, "user_id": r.user_id,
                    "machine": r.machine_name, "machine_id": r.machine_id, "client_ip": r.client_ip,
                    "node": r.node, "started": started, "started_at": iso(r.started_at),
                    "duration_s": max(0, int(now - started)), "bytes_to_viewer": r.bytes_to_viewer,
                    "bytes_from_viewer": r.bytes_from_viewer, "quality": None})
    return out


def _number(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def quality_json(live: dict) -> dict:
    """A live session's quality from its record (``session:<id>``): the latest round trip of
    each hop (ms) and their medians, the viewer's frame rate and encoding, kbit/s each way over
    the last few seconds and at their peak, and the grade the viewer shows (``quality.grade``).
    ``None`` where nothing was measured yet."""
    def whole(name):
        value = _number(live.get(name))
        return None if value is None else int(round(value))

    viewer = _number(live.get("rtt_viewer_ms"))
    agent = quality.agent_whole_way(_number(live.get("rtt_agent_ms")), live)   # across nodes: both legs
    encoding = live.get("encoding", "")
    return {"rtt_viewer_ms": viewer, "rtt_agent_ms": agent,
            "rtt_viewer_p50_ms": _number(live.get("rtt_viewer_p50_ms")),
            "rtt_agent_p50_ms": quality.agent_whole_way(_number(live.get("rtt_agent_p50_ms")), live, median=True),
            "fps": _number(live.get("fps")), "encoding": encoding if encoding in quality.ENCODINGS else None,
            "kbps_to_viewer": whole("kbps_to_viewer"), "kbps_from_viewer": whole("kbps_from_viewer"),
            "kbps_to_viewer_peak": whole("kbps_to_viewer_peak"),
            "kbps_from_viewer_peak": whole("kbps_from_viewer_peak"),
            "grade": quality.grade(viewer, agent)}


def history_quality(r: SessionRecord) -> dict:
    """A history row's quality columns (``sessions.QUALITY_COLUMNS``), for JSON and CSV."""
    return {name: getattr(r, name) for name in sessions.QUALITY_COLUMNS}


# -- login attacks -------------------------------------------------------------------------------

def _accounts_by_login_key() -> dict[str, User]:
    """Users by the key the login throttle files them under (``BOB`` and ``bob`` are one)."""
    return {normalise_account(u.name): u for u in db.session.scalars(select(User).order_by(User.id.desc()))}


def _own_account(account: str) -> str | None:
    """A throttled account as this firm knows it, or None if it is another firm's (``auth._account``)."""
    org = acting_organisation()
    if org != tenancy.DEFAULT:
        mine = f"{ACCOUNT_PREFIX}{org}:"
        return account[len(mine):] if account.startswith(mine) else None
    if account.startswith(ACCOUNT_PREFIX):
        head = account[len(ACCOUNT_PREFIX):].split(":", 1)[0]
        if head.isdigit():
            return None
    return account


def login_attack_rows() -> list[dict]:
    """Account names someone has been guessing passwords for (tripped login limits), newest first."""
    by_account = _accounts_by_login_key()
    out = []
    for a in throttle().attacks():
        account = _own_account(a.account)
        if account is None:
            continue   # typed at another firm's login (issue 17)
        found = by_account.get(account)
        out.append({"account": account, "user": {"id": found.id, "name": found.name} if found else None,
                    "last_at": iso_epoch(a.last), "last": a.last, "failed_logins": a.failed_logins,
                    "networks": a.networks, "under_attack": a.under_attack})
    return out


# -- history and audit queries -------------------------------------------------------------------

def parse_day(value: str | None, *, end: bool = False, zone=timezone.utc) -> datetime | None:
    """``YYYY-MM-DD`` as the start of that day in ``zone``, or the start of the next (``end``),
    as the naive UTC the database keeps."""
    if not value:
        return None
    try:
        day = datetime.strptime(value.strip()[:10], "%Y-%m-%d")
    except ValueError as exc:
        raise AdminError(f"{value!r} is not a date (YYYY-MM-DD).") from exc
    day = day + timedelta(days=1) if end else day
    return day.replace(tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)


def _between(stmt, column, args, zone):
    """``stmt`` narrowed to ``column`` from the day ``since`` to the end of the day ``until``."""
    since = parse_day(args.get("since"), zone=zone)
    until = parse_day(args.get("until"), end=True, zone=zone)
    if since:
        stmt = stmt.where(column >= since)
    if until:
        stmt = stmt.where(column < until)
    return stmt


def history_query(args, zone=timezone.utc) -> select:
    """Sessions, newest first; filters ``user``, ``machine``, ``since``, ``until`` (days in ``zone``)."""
    stmt = select(SessionRecord)
    if args.get("user"):
        stmt = stmt.where(SessionRecord.user_name == args["user"])
    if args.get("machine"):
        stmt = stmt.where(SessionRecord.machine_name == args["machine"])
    return _between(stmt, SessionRecord.started_at, args, zone).order_by(SessionRecord.started_at.desc(), SessionRecord.id)


def audit_query(args, zone=timezone.utc) -> select:
    """Audit events, newest first; filters ``actor``, ``action``, ``target`` (part of), ``ip``,
    ``since``, ``until`` (days in ``zone``: the API's are UTC, the admin pages' the gateway's)."""
    stmt = select(AuditEvent)
    if args.get("actor"):
        stmt = stmt.where(AuditEvent.actor == args["actor"])
    if args.get("action"):
        stmt = stmt.where(AuditEvent.action == args["action"])
    if args.get("target"):
        stmt = stmt.where(AuditEvent.target.contains(args["target"], autoescape=True))
    if args.get("ip"):
        stmt = stmt.where(AuditEvent.ip == args["ip"])
    return _between(stmt, AuditEvent.at, args, zone).order_by(AuditEvent.id.desc())


# -- CSV -----------------------------------------------------------------------------------------

HISTORY_CSV = ["session", "user", "machine", "client_ip", "started_at", "ended_at", "duration_s",
               "bytes_to_viewer", "bytes_from_viewer", "end_reason", "ended_by",
               *sessions.QUALITY_COLUMNS]
AUDIT_CSV = ["at", "actor", "ip", "action", "target", "detail"]


def _history_row(r: SessionRecord) -> list:
    return [r.id, r.user_name, r.machine_name, r.client_ip, iso(r.started_at), iso(r.ended_at),
            duration(r), r.bytes_to_viewer, r.bytes_from_viewer, r.end_reason, r.ended_by,
            *history_quality(r).values()]


def _audit_row(r: AuditEvent) -> list:
    return [iso(r.at), r.actor, r.ip, r.action, r.target, r.detail]


def csv_safe(value) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_chunks(header: list[str], rows, *, batch: int = CSV_BATCH):
    """The CSV text of ``header`` and ``rows``, ``batch`` rows per chunk."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow([csv_safe(v) for v in row])
        if n % batch == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _csv_response(filename: str, header: list[str], stmt, to_row) -> Response:
    def generate():
        # Run inside the response (stream_with_context keeps the request's database session);
        # yield_per fetches rows in batches (a server-side cursor on PostgreSQL).
        records = db.session.scalars(stmt.execution_options(yield_per=CSV_BATCH))
        yield from csv_chunks(header, (to_row(r) for r in records), batch=CSV_BATCH)

    chunks = stream_with_context(generate())
    # The query and its first batch run here, in the view: a database that is down now gets the
    # usual 503. A failure later cuts the chunked body short, which clients report as a failed
    # download rather than a complete-looking file.
    first = next(chunks)
    return Response(itertools.chain((first,), chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def history_csv(stmt) -> Response:
    """``history_query``'s sessions as a streamed ``ponte-history.csv`` download."""
    return _csv_response("ponte-history.csv", HISTORY_CSV, stmt, _history_row)


def audit_csv(stmt) -> Response:
    """``audit_query``'s events as a streamed ``ponte-audit.csv`` download."""
    return _csv_response("ponte-audit.csv", AUDIT_CSV, stmt, _audit_row)
