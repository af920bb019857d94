"""Run blocking network I/O (LDAP, SMTP) in gevent's threadpool under ``serve``.

Under ``serve`` one gevent loop relays every session of the node (``gateway/loop.py``);
a directory or mail server that answers slowly must not stall it. ldap3 and smtplib
are blocking libraries with their own timeouts (``ldap_timeout``, ``smtp_timeout``),
so each call runs in a worker thread while the loop goes on. Elsewhere (CLI, tests
with Flask's client) there is no loop to protect and the call runs inline.
"""

from __future__ import annotations

from ..loop import cooperative


def off_loop(fn, *args):
    """``fn(*args)``, in gevent's threadpool when this is a gevent server."""
    if not cooperative():
        return fn(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(fn, args)
