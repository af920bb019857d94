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

SQLite. sqlite3 calls cannot yield to the loop. WAL lets readers go on
while another process writes; a write that finds another process's write
lock waits inside SQLite (``busy_timeout``), and the whole loop with it.
Under ``serve`` that wait is ``SQLITE_BUSY_MS_SERVE``: the CLI holds the
lock for the milliseconds of one short transaction, and a lock held
longer (a backup, an open ``sqlite3`` shell) makes that request answer
503 instead of freezing every relay of the node for seconds. The CLI waits
``SQLITE_BUSY_MS``, so it simply waits for the gateway. SQLite is for one
node; nodes that share a database use PostgreSQL (DESIGN.md §6).

``UNAVAILABLE``: the SQLAlchemy errors that mean the database could not be
reached or did not answer in time (not a bad query).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import socket
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

_deadlines = None  # gevent.local.local once green mode is on: this greenlet's deadline


def engine_options(settings: GatewaySettings) -> dict:
    """``SQLALCHEMY_ENGINE_OPTIONS`` for the settings' database."""
    url = make_url(settings.database_url)
    options: dict = {"pool_pre_ping": True}
    if url.get_backend_name() == "postgresql":
        options["pool_timeout"] = settings.database_pool_timeout
        if url.get_driver_name() == "psycopg2":
            options["connect_args"] = _libpq_args(url, settings)
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


def init_app(app: Flask) -> None:
    """Per-engine hooks (SQLite pragmas, cooperative PostgreSQL) once ``db.init_app`` made the engine."""
    settings: GatewaySettings = app.config["PONTE"]
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        busy = SQLITE_BUSY_MS_SERVE if cooperative() else SQLITE_BUSY_MS
        event.listen(engine, "connect", lambda conn, _record: _sqlite_pragmas(conn, busy))
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
