"""Close the sessions of gateway nodes that died (DESIGN.md §3: no record lost).

Every node refreshes its ``node:<id>`` record (TTL ``node_ttl``) every
third of the TTL. A session whose node has no record any more belongs to a
node that died (SIGKILL, a power cut): one survivor — whichever first takes
the short Redis lock ``lock:reap:<node>`` (SET NX EX) — closes its history
rows with reason "gateway node stopped" and the last byte counts Redis had,
and drops its live records. Every write is idempotent (``record_end``), so
a second survivor, or the dead node's own journal replayed later, changes
nothing.

A node also closes its own leftovers when it starts: rows with its node id
that began before it did (a fixed ``node_id`` that restarted after a crash);
with the default ``hostname-pid`` ids, its predecessor's rows are those of a
node that is not alive, closed like any other after the grace below.

A Redis restart or outage loses every ``node:`` record at once while every
node is alive. So nothing of another node is reaped until this node has
seen Redis answer without a break for ``grace`` (one ``node_ttl``): by then
each live node has re-asserted its record (``upkeep.reassert``, about a second
after Redis answers). The node-bus listener (``buslistener``), which notices a lost
connection at once, tells the reaper (``redis_lost`` / ``redis_back``).
"""

from __future__ import annotations

import logging
import time
from datetime import timezone

import gevent
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from . import sessions, tenancy
from .extensions import db
from .live import LiveStoreError
from .models import SessionRecord

log = logging.getLogger(__name__)

#: Open rows are looked for in SQL (a scan of the open ones) at start and this
#: often; in between, the live index in Redis names the candidates.
SQL_SWEEP_EVERY = 300.0


def row_fields(row: SessionRecord) -> dict:
    """A history row as the fields of a live record (what ``end_record`` reads)."""
    started = row.started_at.replace(tzinfo=timezone.utc).timestamp() if row.started_at else None
    return {"machine_id": row.machine_id, "machine": row.machine_name, "user_id": row.user_id,
            "user": row.user_name, "client_ip": row.client_ip, "node": row.node, "started": started,
            "bytes_to_viewer": row.bytes_to_viewer, "bytes_from_viewer": row.bytes_from_viewer}


class Reaper:
    """One per node; ``run_forever`` in a greenlet, ``sweep`` for one round."""

    def __init__(self, app, hub, clock=time.monotonic):
        settings = app.config["PONTE"]
        self.app = app
        self.hub = hub
        self.node = settings.node_id
        self.ttl = int(settings.node_ttl)
        self.grace = float(settings.node_ttl)
        self.interval = max(0.5, settings.node_ttl / 3)
        self.clock = clock
        self.started = time.time()  # rows of this node id from before this are leftovers
        self._redis_since: float | None = None
        self._next_sql = 0.0

    # -- what the node-channel listener tells us --

    def redis_back(self) -> None:
        if self._redis_since is None:
            self._redis_since = self.clock()

    def redis_lost(self) -> None:
        self._redis_since = None

    # -- rounds --

    def run_forever(self) -> None:
        while True:
            with self.app.app_context():
                try:
                    self.sweep()
                except Exception:  # a bug must not stop the next round
                    log.exception("reaper round failed")
                finally:
                    db.session.remove()
            gevent.sleep(self.interval)

    def sweep(self) -> int:
        """One round (in an app context); how many sessions it closed. Across organisations by
        design: each close is written, and audited, as its session's firm (``sessions.record_end``)."""
        with tenancy.across_organisations():
            return self._sweep()

    def _sweep(self) -> int:
        live = self.app.extensions["ponte.live"]
        now = self.clock()
        try:
            candidates = {row["id"]: row for row in live.live_sessions()}
        except LiveStoreError as exc:
            log.debug("reaper: Redis unavailable: %s", exc)
            return 0
        settled = self._redis_since is not None and now - self._redis_since >= self.grace
        if now >= self._next_sql:
            try:
                for row in db.session.scalars(select(SessionRecord).where(SessionRecord.ended_at.is_(None))):
                    candidates.setdefault(row.id, row_fields(row))
                if settled:  # until then, other nodes' rows wait: sweep again next round
                    self._next_sql = now + SQL_SWEEP_EVERY
            except SQLAlchemyError as exc:
                db.session.rollback()
                log.info("reaper: SQL unavailable: %s", exc)
        held = self.hub.held()
        mine, others = [], {}
        for sid, fields in candidates.items():
            if sid in held:
                continue
            node = str(fields.get("node") or "")
            if node == self.node:
                started = _float(fields.get("started"))
                if started is not None and started < self.started:
                    mine.append((sid, fields))
            else:
                others.setdefault(node, []).append((sid, fields))
        closed = sum(self._close(sid, fields, live) for sid, fields in mine)
        if not others or not settled:
            return closed
        try:
            alive = live.nodes_alive(n for n in others if n)
        except LiveStoreError:
            return closed
        for node, group in others.items():
            if node in alive:
                continue
            try:
                if not live.try_lock(f"reap:{node}", self.node, self.ttl):
                    continue  # another survivor does it
            except LiveStoreError:
                return closed
            log.warning("node %s is gone: closing its %d session(s)", node or "(unknown)", len(group))
            closed += sum(self._close(sid, fields, live) for sid, fields in group)
        return closed

    def _close(self, session: str, fields: dict, live) -> int:
        """Close one session of a stopped node with the last bytes Redis had."""
        try:
            current = live.session(session) or {}
        except LiveStoreError:
            current = {}
        known = {**fields, **current}
        record = sessions.end_record(
            session, known, to_viewer=_int(known.get("bytes_to_viewer")),
            from_viewer=_int(known.get("bytes_from_viewer")), reason=sessions.NODE_STOPPED,
            ended_at=_float(known.get("progress_at")) or time.time())
        sessions.finish(record)
        return 1


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
