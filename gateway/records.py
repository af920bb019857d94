"""The SQL writes the hub needs, each in its own app context.

The hub runs outside any request (the node-bus listener, the journal's
retries, drain), so it does not hold the app: it is given this object,
whose methods open an app context, write, and release the connection.
"""

from __future__ import annotations

from . import sessions, tenancy
from .errors import LiveStoreError
from .extensions import db
from .journal import EndRecord
from .models import SessionRecord
from .reaper import row_fields


class SqlRecords:
    """Session records in the app's database (``sessions``), for the hub."""

    def __init__(self, app):
        self.app = app

    def write_end(self, record: EndRecord) -> None:
        """Write one session end (a journaled one); raises ``SQLAlchemyError`` if SQL is down."""
        with self.app.app_context():
            try:
                sessions.record_end(record)
            finally:
                db.session.remove()

    def close_row(self, session: str, reason: str, node: str) -> bool:
        """Close ``session``'s history row if it is still open and ``node``'s: a record that
        outlived its session. True if it was ``node``'s to close."""
        with self.app.app_context(), tenancy.across_organisations():   # the hub's: any firm's row
            try:
                row = db.session.get(SessionRecord, session)
                if row is None or row.ended_at is not None or row.node != node:
                    return False
                try:
                    known = {**row_fields(row), **(sessions.live().session(session) or {})}
                except LiveStoreError:
                    known = row_fields(row)
                record = sessions.end_record(session, known, to_viewer=_int(known.get("bytes_to_viewer")),
                                             from_viewer=_int(known.get("bytes_from_viewer")), reason=reason)
                sessions.finish(record)
                return True
            finally:
                db.session.remove()


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
