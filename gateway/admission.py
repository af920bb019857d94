"""How many connections a node holds, per client address and in total: pure bookkeeping.

Every accepted TCP connection takes a ``Slot`` before a greenlet serves it
(``server.GatewayServer``); a connection over a limit is answered 503 with
``Retry-After`` and closed at once, so one client cannot exhaust the node's
descriptors (EMFILE) while the sessions already open go on.

Which address counts. A direct peer is counted by its TCP address when it
connects. Behind reverse proxies (``trusted_proxies`` > 0) every TCP peer is
a proxy, so per-address counting at connect time would cap the proxy
itself: then a connection is counted per client only when it is upgraded to
a WebSocket (the long-lived ones), under the address the proxy reported
(``ProxyFix``), and the proxy bounds slow request heads itself (nginx's
``client_header_timeout``). Plain HTTP requests through a proxy are short,
share its upstream connections and are rate-limited per client elsewhere
(Flask-Limiter); the total cap holds for everything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

DEFAULT_PER_CLIENT = 256
#: Descriptors kept free of client connections: Redis and SQL connections,
#: logs, node-to-node streams, and the brief 503 answers themselves.
MIN_RESERVE = 64

TOTAL, CLIENT = "total", "client"


def total_for(nofile: int) -> int:
    """Client connections a process with ``nofile`` descriptors may hold: a quarter
    (at least ``MIN_RESERVE``) of them stays free for everything else."""
    return max(1, nofile - max(MIN_RESERVE, nofile // 4))


@dataclass
class Slot:
    """One open connection; ``client`` is the address it counts under (None: total only)."""

    client: str | None
    open: bool = True


class ConnectionLimits:
    """Counts open connections; refuses one over ``total`` or over ``per_client`` for its address.

    One address never gets more than half of ``total``, so a single client can
    fill at most half a node whatever the settings say.
    """

    def __init__(self, total: int, per_client: int = DEFAULT_PER_CLIENT):
        self.total = max(1, total)
        self.per_client = max(1, min(per_client, self.total // 2 or 1))
        self.open = 0
        self.by_client: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def admit(self, client: str | None) -> Slot | str:
        """A ``Slot`` for a new connection, or why not (``TOTAL`` or ``CLIENT``)."""
        if self.open >= self.total:
            self.refused[TOTAL] += 1
            return TOTAL
        if client is not None and self.by_client[client] >= self.per_client:
            self.refused[CLIENT] += 1
            return CLIENT
        self.open += 1
        if client is not None:
            self.by_client[client] += 1
        return Slot(client)

    def rekey(self, slot: Slot, client: str) -> bool:
        """Count ``slot`` under ``client`` from now on (a proxied WebSocket); False if that is over the cap."""
        if slot.client == client:
            return True
        if self.by_client[client] >= self.per_client:
            self.refused[CLIENT] += 1
            return False
        self._forget(slot.client)
        self.by_client[client] += 1
        slot.client = client
        return True

    def release(self, slot: Slot) -> None:
        """The connection closed (once; a second call changes nothing)."""
        if not slot.open:
            return
        slot.open = False
        self.open -= 1
        self._forget(slot.client)
        slot.client = None

    def _forget(self, client: str | None) -> None:
        if client is None:
            return
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]
