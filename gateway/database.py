"""The durable store's engine: pool and timeouts, and database I/O that never blocks the loop.

PostgreSQL (psycopg2). Under ``serve`` psycopg2 runs in green mode with
psycogreen's wait callback: a query waits for its socket through gevent's
loop, so a slow or silent database holds up only the greenlets that wait
for it, never the relays, and SIGTERM is still heard. libpq does not time
out waits it does not do itself, so each wait is bounded here: while
connecting by ``database_connect_timeout``, for a reply by
``database_statement_timeout`` plus ``REPLY_GRACE`` (the server cancels a
statement at ``statement_timeout`` and says so; silence after that means
the server or the network is gone). A wait that runs out closes the
connection and raises psycopg2's ``OperationalError``; SQLAlchemy drops
the connection from the pool and the request answers 503
``database_unavailable`` (``app.py``). Host names are resolved through
gevent's resolver (libpq's own lookup would block), TCP keepalives find
dead peers of idle pooled connections, and a request waits at most
``database_pool_timeout`` for a pooled connection. Outside ``serve`` (the
CLI) libpq blocks as usual, bounded by the same ``connect_timeout`` and
``statement_timeout``.

SQLite. sqlite3 calls cannot yield to the loop, but under ``serve`` the
one that waits for the disk does not run on it: a commit (the WAL's
fsync, and a checkpoint when one is due) runs in a thread of its own
(``OffLoopCommit``), so a slow or hung disk holds up the greenlet that
committed, not every relay of the node. Statements stay on the loop: they
work in SQLite's page cache, in microseconds. While a commit is out,
another greenlet of the node that writes would find the write lock taken
and wait inside SQLite, on the loop; so the node's writers take turns on
a gevent semaphore first (``SqliteWriter``), from a transaction's first
write to its commit or rollback, waiting for it cooperatively, at most
``SQLITE_TURN_WAIT`` (then 503). WAL lets readers go on while another
process writes; a write that finds another process's write lock waits
inside SQLite (``busy_timeout``), and the whole loop with it. Under
``serve`` that wait is ``SQLITE_BUSY_MS_SERVE``: the CLI holds the lock
for the milliseconds of one short transaction, and a lock held longer (a
backup, an open ``sqlite3`` shell) makes that request answer 503 instead
of freezing every relay of the node for seconds. The CLI waits
``SQLITE_BUSY_MS``, so it simply waits for the gateway. SQLite is for one
node; nodes that share a database use PostgreSQL (DESIGN.md §6).

``UNAVAILABLE``: the SQLAlchemy errors that mean the database could not be
reached or did not answer in time (not a bad query).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import re
import socket
import sqlite3
import time

from flask import Flask
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from .config import GatewaySettings
from .extensions import db
from .loop import cooperative

UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, sa_exc.DisconnectionError)
#: Seconds past ``statement_timeout`` we wait for the server's own cancel.
REPLY_GRACE = 1.0
#: libpq keepalives: an idle pooled connection to a vanished host is found in ~60 s.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
SQLITE_BUSY_MS_SERVE = 100
SQLITE_BUSY_MS = 5000
#: Seconds a write of this node waits for another's commit (``SqliteWriter``) before it gives up.
SQLITE_TURN_WAIT = 5.0

_deadlines = None  # gevent.local.local once green mode is on: this greenlet's deadline


def engine_options(settings: GatewaySettings) -> dict:
    """``SQLALCHEMY_ENGINE_OPTIONS`` for the settings' database."""
    url = make_url(settings.database_url)
    options: dict = {"pool_pre_ping": True}
    if url.get_backend_name() == "postgresql":
        options["pool_timeout"] = settings.database_pool_timeout
        if url.get_driver_name() == "psycopg2":
            options["connect_args"] = _libpq_args(url, settings)
    elif url.get_backend_name() == "sqlite" and cooperative():
        # The commit runs in a worker thread, while the greenlet that owns the connection waits
        # for it: never two threads at once on one connection.
        options["connect_args"] = {"factory": OffLoopCommit.for_engine(SqliteWriter(SQLITE_TURN_WAIT)),
                                   "check_same_thread": False}
    return options


def _libpq_args(url, settings: GatewaySettings) -> dict:
    """Keepalives, connect and statement timeouts; what the URL sets itself wins."""
    args = {k: v for k, v in KEEPALIVES.items() if k not in url.query}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = max(1, math.ceil(settings.database_connect_timeout))  # libpq: whole seconds
    statement = f"-c statement_timeout={int(settings.database_statement_timeout * 1000)}"
    given = url.query.get("options")
    args["options"] = f"{given} {statement}" if given else statement
    return args


class SqliteWriter:
    """The node's writes to one SQLite file (``serve`` only): one transaction writes at a time,
    the others wait for their turn on the loop, and commits run in a thread of their own."""

    def __init__(self, wait: float):
        import gevent.lock

        self.wait = wait
        self._turn = gevent.lock.Semaphore(1)
        self._holder = None
        self._pool = None  # made on first use, in the loop's thread; one commit is out at a time

    def take(self) -> bool:
        """Wait for the turn; False if this greenlet holds it already through another connection
        (that write meets SQLite's own lock and its ``busy_timeout``, as it would without turns)."""
        import gevent

        me = gevent.getcurrent()
        if self._holder is me:
            return False
        if not self._turn.acquire(timeout=self.wait):
            raise sqlite3.OperationalError(
                f"database is locked: another write of this node did not finish within {self.wait:g} s")
        self._holder = me
        return True

    def give_back(self) -> None:
        self._holder = None
        self._turn.release()

    def commit(self, commit) -> None:
        """``commit()`` in the writer's thread (not gevent's shared threadpool, where password
        hashes and recordings could keep it waiting); this greenlet waits, the loop goes on."""
        if self._pool is None:
            import gevent.threadpool

            self._pool = gevent.threadpool.ThreadPool(1)
        self._pool.apply(commit)


class OffLoopCommit(sqlite3.Connection):
    """A SQLite connection that commits through its engine's ``SqliteWriter``, and whose
    transactions take their turn at their first write (``take_turn``)."""

    writer: SqliteWriter  # set by for_engine: one per engine (one database file)

    @classmethod
    def for_engine(cls, writer: SqliteWriter) -> type:
        return type("OffLoopCommit", (cls,), {"writer": writer})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_turn = False

    def take_turn(self) -> None:
        if not self.has_turn:
            self.has_turn = self.writer.take()

    def _end_turn(self) -> None:
        if self.has_turn:
            self.has_turn = False
            self.writer.give_back()

    def commit(self) -> None:
        try:
            if self.in_transaction:  # else there is nothing to write: no thread for it
                self.writer.commit(super().commit)
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()


#: Statements that take SQLite's write lock (what SQLAlchemy and our migrations send).
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)


def _take_turn(_conn, cursor, statement, _parameters, _context, _executemany) -> None:
    connection = cursor.connection
    if isinstance(connection, OffLoopCommit) and _WRITES.match(statement):
        connection.take_turn()


def init_app(app: Flask) -> None:
    """Per-engine hooks (SQLite pragmas, cooperative PostgreSQL) once ``db.init_app`` made the engine."""
    settings: GatewaySettings = app.config["PONTE"]
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        busy = SQLITE_BUSY_MS_SERVE if cooperative() else SQLITE_BUSY_MS
        event.listen(engine, "connect", lambda conn, _record: _sqlite_pragmas(conn, busy))
        event.listen(engine, "before_cursor_execute", _take_turn)
    elif engine.dialect.driver == "psycopg2" and cooperative():
        _green_psycopg2(settings)
        event.listen(engine, "do_connect", _resolve_host)


def _sqlite_pragmas(dbapi_connection, busy_ms: int) -> None:
    # WAL lets the CLI and the gateway write at once; foreign keys keep grants honest.
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cur.close()


def _green_psycopg2(settings: GatewaySettings) -> None:
    """psycopg2 waits through gevent's loop, each wait bounded (see the module docstring)."""
    global _deadlines
    import gevent.local
    import psycopg2
    from psycopg2 import extensions
    from psycogreen.gevent import gevent_wait_callback

    connect_limit = settings.database_connect_timeout
    reply_limit = settings.database_statement_timeout + REPLY_GRACE
    _deadlines = gevent.local.local()

    def wait(conn) -> None:
        limit = connect_limit if conn.status == extensions.STATUS_SETUP else reply_limit
        until = getattr(_deadlines, "until", None)
        if until is not None:
            limit = max(0.0, min(limit, until - time.monotonic()))
        try:
            gevent_wait_callback(conn, timeout=limit)
        except socket.timeout as exc:
            # psycopg2 has closed the connection (a failed green wait always does).
            raise psycopg2.OperationalError(f"the database did not answer within {limit:.1f} s") from exc

    extensions.set_wait_callback(wait)


def _resolve_host(_dialect, _record, _cargs, cparams) -> None:
    """Look the host up through gevent (cooperative) and hand libpq the addresses.

    libpq resolves ``host`` itself, blocking, even in non-blocking mode;
    with ``hostaddr`` it does not, and ``host`` still names the server for
    TLS verification.
    """
    host = cparams.get("host")
    if not host or "hostaddr" in cparams or host.startswith("/") or "," in host or _is_address(host):
        return
    try:
        found = socket.getaddrinfo(host, cparams.get("port") or 5432, type=socket.SOCK_STREAM)
    except OSError as exc:
        import psycopg2

        raise psycopg2.OperationalError(f"cannot resolve the database host {host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    cparams["host"] = ",".join([host] * len(addresses))
    cparams["hostaddr"] = ",".join(addresses)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


@contextlib.contextmanager
def deadline(seconds: float):
    """Bound this greenlet's database waits inside the block to ``seconds`` in all.

    For answers that must come quickly whatever the database does (``/healthz``).
    Only under ``serve``: elsewhere libpq's own timeouts apply.
    """
    if _deadlines is None:
        yield
        return
    before = getattr(_deadlines, "until", None)
    _deadlines.until = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadlines.until = before
