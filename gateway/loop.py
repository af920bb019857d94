"""Is this process a gevent server? (``python -m gateway serve`` patches first.)

Under ``serve`` one gevent loop runs every request, relay and background job
of the node, and nothing may block it: CPU-heavy work goes to gevent's
threadpool (``off_loop``; hashing in ``security``), and database waits go
through the loop (``database``). Everywhere else — the CLI, the Flask test
client, provisioning scripts — blocking is harmless and those modules do the
plain thing.

Checked, and what still runs on the loop (short unless noted):
DNS lookups go through gevent's threadpool resolver (socket is patched),
PostgreSQL's host name too (``database``); Redis and node-to-node sockets
are gevent sockets. SQLite statements cannot yield: each is short, a
commit waits for the disk in a thread, and a write waits at most 100 ms
for another process's lock (``database``).
Static files (noVNC) and templates are read from local disk, cached
after the first read. Log lines are written to stderr synchronously: a
log reader that stops reading (a stuck journald pipe) would stall the
node. Admin CSV exports (history, audit) are built whole in memory on the
loop: ~4 s for 50,000 rows here, a stall worth streaming away.
"""

from __future__ import annotations

import sys


def cooperative() -> bool:
    """True when gevent has patched threading: greenlets share one loop."""
    if "gevent.monkey" not in sys.modules:
        return False
    from gevent import monkey

    return monkey.is_module_patched("threading")


def off_loop(fn, *args):
    """``fn(*args)`` in gevent's threadpool under ``serve`` (this greenlet waits, the loop goes on);
    inline elsewhere, where there is no loop to protect."""
    if not cooperative():
        return fn(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(fn, args)
