"""Is this process a gevent server? (``python -m gateway serve`` patches first.)

Under ``serve`` one gevent loop runs every request, relay and background job
of the node, and nothing may block it: CPU-heavy work goes to gevent's
threadpool (``security``) and database waits go through the loop
(``database``). Everywhere else — the CLI, the Flask test client,
provisioning scripts — blocking is harmless and those modules do the plain
thing.
"""

from __future__ import annotations

import sys


def cooperative() -> bool:
    """True when gevent has patched threading: greenlets share one loop."""
    if "gevent.monkey" not in sys.modules:
        return False
    from gevent import monkey

    return monkey.is_module_patched("threading")
