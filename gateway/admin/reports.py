"""History and audit: filtered pages of 100, and the same filters as a CSV download."""

from __future__ import annotations

from flask import abort, flash, render_template, request
from flask_babel import get_timezone
from sqlalchemy import func, select

from .. import refs, reports
from ..extensions import db
from ..models import AuditEvent, SessionRecord
from ..ops import AdminError
from . import bp

PAGE = 100  # rows per page of history or audit


def _offset() -> int:
    return refs.record_id(request.args.get("offset", "0")) or 0


def _filters(keys) -> dict:
    return {k: request.args.get(k, "").strip() for k in keys if request.args.get(k, "").strip()}


def _distinct(column) -> list[str]:
    return [v for v in db.session.scalars(select(column).distinct().order_by(column)) if v]


HISTORY_FILTERS = ("user", "machine", "since", "until")
AUDIT_FILTERS = ("actor", "action", "target", "ip", "since", "until")


#: ``?order=oldest``: the list from its first row on (else newest first), per list its columns.
OLDEST_FIRST = {"history": (SessionRecord.started_at.asc(), SessionRecord.id.asc()), "audit": (AuditEvent.id.asc(),)}


def _page_of(query, keys, kind: str) -> tuple[dict, list, int, int]:
    """The filters in use (``order`` among them when not the default), this page's rows (one
    more, to tell if there are more), its offset and how many rows match in all; a bad date is
    flashed and shows nothing."""
    filters, offset = _filters(keys), _offset()
    try:
        stmt = query(filters, get_timezone())
        total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        if request.args.get("order") == "oldest":
            stmt = stmt.order_by(None).order_by(*OLDEST_FIRST[kind])
            filters["order"] = "oldest"
        rows = list(db.session.scalars(stmt.limit(PAGE + 1).offset(offset)))
    except AdminError as exc:
        flash(str(exc), "error")
        filters, rows, total = {}, [], 0
    return filters, rows, offset, total


def _export(query, keys, as_csv):
    """The filtered rows as CSV; a bad date is a 400."""
    try:
        stmt = query(_filters(keys), get_timezone())
    except AdminError as exc:
        abort(400, str(exc))
    return as_csv(stmt)


@bp.get("/history")
def history():
    filters, rows, offset, total = _page_of(reports.history_query, HISTORY_FILTERS, "history")
    live_ids = reports.live_ids_or_none()
    return render_template("admin/history.html", rows=rows[:PAGE], more=len(rows) > PAGE, offset=offset, total=total,
                           page=PAGE, filters=filters, user_names=_distinct(SessionRecord.user_name),
                           states={r.id: reports.record_state(r, live_ids) for r in rows[:PAGE]},
                           machine_names=_distinct(SessionRecord.machine_name))


@bp.get("/history.csv")
def history_csv():
    return _export(reports.history_query, HISTORY_FILTERS, reports.history_csv)


@bp.get("/audit")
def audit():
    filters, rows, offset, total = _page_of(reports.audit_query, AUDIT_FILTERS, "audit")
    return render_template("admin/audit.html", rows=rows[:PAGE], more=len(rows) > PAGE, offset=offset, total=total,
                           page=PAGE, filters=filters, actors=_distinct(AuditEvent.actor),
                           actions=_distinct(AuditEvent.action))


@bp.get("/audit.csv")
def audit_csv():
    return _export(reports.audit_query, AUDIT_FILTERS, reports.audit_csv)
