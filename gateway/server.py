"""The gateway's HTTP server (pywsgi): HTTP and WebSockets on one port (run by ``node.serve``).

``UpgradeHandler`` lets a Flask view take the raw client socket for a
WebSocket (RFC 6455 §4.2.2 is then answered by websockify's ``accept()``);
after the view returns, the handler writes no HTTP response of its own. A
view may also hand the rest of the socket's life to a function
(``ponte.after_request``) that runs in the same greenlet once the request
has ended: the request's environ, headers, read buffer and Flask contexts
are gone by then, so a connection held open for days (an idle agent's
control channel) keeps only what that function needs. It
gives each request head a total deadline (``request_head_timeout``), so a
client dribbling a byte now and then cannot hold a socket for minutes.

``GatewayServer`` admits each connection against ``admission`` limits
before it gets a greenlet: over a limit it is answered 503 with
``Retry-After`` from the hub and closed, and the total stays below the
descriptor limit, so the node never runs out of descriptors (EMFILE) and
``/healthz`` and open sessions go on. Should descriptors run out anyway
(a leak, another process's limit), a reserved one is freed to answer and
close each waiting connection instead of spinning on ``accept``.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import resource
import socket
import time

import gevent
from gevent.pywsgi import WSGIHandler, WSGIServer

from . import admission, tcp
from .config import DEFAULT_REQUEST_HEAD_TIMEOUT

# Over 300 lines: the upgrade handler and the admitting server share one connection's life (its
# head deadline, its admission slot, its hand-over after the request); apart, each would reach
# into the other.
log = logging.getLogger("gateway.server")

DEFAULT_HTTP_TIMEOUT = 30.0
RETRY_AFTER = 5  # seconds, in the 503 of a client over a connection limit
WARN_EVERY = 10.0  # seconds between two "limit reached" warnings of one kind


def _plain(status: str, text: str, extra: str = "") -> bytes:
    body = text.encode() + b"\n"
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n").encode() + body


BUSY = {
    admission.TOTAL: _plain("503 Service Unavailable", "This gateway has too many connections open right now. "
                            "Try again in a few seconds.", f"Retry-After: {RETRY_AFTER}\r\n"),
    admission.CLIENT: _plain("503 Service Unavailable", "Too many connections from your address are open "
                             "on this gateway. Close some, then try again.", f"Retry-After: {RETRY_AFTER}\r\n"),
}
HEAD_TOO_SLOW = _plain("408 Request Timeout", "The request headers took too long to arrive.")


class _HeadTooSlow(Exception):
    """The request line and headers did not arrive within ``request_head_timeout``."""


class UpgradeHandler(WSGIHandler):
    """A pywsgi handler whose application may take over the socket."""

    #: The admission slot of this connection (``GatewayServer``), if any.
    slot: admission.Slot | None = None
    _head_deadline: gevent.Timeout | None = None
    #: What an upgraded view left to run once its request has ended (``ponte.after_request``).
    _then = None

    def handle(self):
        # Each read and write times out (a client that stops mid-body); the
        # head as a whole has its own deadline (read_requestline).
        self.socket.settimeout(getattr(self.server, "http_timeout", DEFAULT_HTTP_TIMEOUT))
        super().handle()

    # -- the request head: one deadline for the request line and all headers --

    def handle_one_request(self):
        try:
            return super().handle_one_request()
        except _HeadTooSlow:  # still in the request line: nothing to answer to
            log.debug("request line from %s too slow: closed", self.client_address)
            return None
        finally:
            self._stop_head_deadline()

    def read_requestline(self):
        self._stop_head_deadline()
        self._head_deadline = gevent.Timeout(
            getattr(self.server, "request_head_timeout", DEFAULT_REQUEST_HEAD_TIMEOUT), _HeadTooSlow)
        self._head_deadline.start()
        return super().read_requestline()

    def read_request(self, raw_requestline):
        try:
            return super().read_request(raw_requestline)
        finally:
            self._stop_head_deadline()

    def _handle_client_error(self, ex):
        if isinstance(ex, _HeadTooSlow):  # the deadline fired among the headers
            log.debug("request headers from %s too slow: 408", self.client_address)
            return ("408", HEAD_TOO_SLOW)
        return super()._handle_client_error(ex)

    def _stop_head_deadline(self):
        if self._head_deadline is not None:
            self._head_deadline.close()
            self._head_deadline = None

    def get_environ(self):
        environ = super().get_environ()
        self._upgraded = False
        environ["ponte.take_socket"] = self._take_socket
        environ["ponte.release_socket"] = self._release_socket
        environ["ponte.after_request"] = self._after_request
        server = self.server
        if self.slot is not None and hasattr(server, "limits"):
            # ws.py counts a proxied WebSocket under the client the proxy names.
            environ["ponte.count_client"] = functools.partial(server.count_client, self.slot)
        return environ

    def _take_socket(self):
        self._upgraded = True
        sock = self.socket
        sock.settimeout(None)  # WebSocket code sets its own deadlines
        tcp.tune(sock)  # a dead peer must not hold a session for ever
        return sock

    def _release_socket(self):
        """The taken socket went to another process (``siblings``): pywsgi's last read on it
        (it drains what the client sent) would steal the new owner's bytes, so skip it."""
        self.socket = None
    def _after_request(self, then) -> None:
        if not self._upgraded:
            raise RuntimeError("only a view that took its socket may run on after its request")
        self._then = then

    def hand_over(self):
        """What the view left to run once its request has ended (None: nothing), taken once.

        The socket is then the caller's: ``handle()`` neither read the rest of it
        nor closed it, and dropped its read buffer (8 KiB). The environ is emptied:
        the request object in it and the bound methods of this handler make
        cycles that would otherwise wait for the garbage collector, holding
        the request's objects for every such connection.
        """
        then, self._then = self._then, None
        if self.environ is not None:
            self.environ.clear()
        self.environ = self.headers = None
        return then

    def run_application(self):
        if not getattr(self, "_upgraded", False) and self.environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            return super().run_application()
        try:
            self.result = self.application(self.environ, self.start_response)
            if self._upgraded:
                self.close_connection = True
                self.response_length = 0
                if self._then is not None:
                    self.socket = None  # the after-request function owns it now: handle() must not close it
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


class GatewayServer(WSGIServer):
    """pywsgi's server with connection limits (``admission``) and no spin on EMFILE."""

    handler_class = UpgradeHandler

    def __init__(self, listener, application, settings):
        super().__init__(listener, application, log=None, error_log=logging.getLogger("gateway.wsgi"))
        self.http_timeout = settings.http_timeout
        self.request_head_timeout = settings.request_head_timeout
        budget = admission.total_for(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        total = settings.max_connections or budget
        if total > budget:
            log.warning("max_connections = %d needs more descriptors than RLIMIT_NOFILE allows; "
                        "holding at most %d (raise LimitNOFILE / ulimit -n)", total, budget)
            total = budget
        self.limits = admission.ConnectionLimits(total, settings.max_connections_per_ip)
        #: Behind proxies every TCP peer is a proxy: count clients at the upgrade (admission.py).
        self.behind_proxy = settings.trusted_proxies > 0
        self._warned: dict[str, float] = {}
        self._reserve = os.open(os.devnull, os.O_RDONLY)  # freed to answer when descriptors run out
        log.info("connection limits: %d open in total, %d per client address", self.limits.total,
                 self.limits.per_client)

    def do_handle(self, sock, address):
        # In the hub: nothing here may block. A refused connection gets no greenlet.
        slot = self.limits.admit(None if self.behind_proxy else address[0])
        if not isinstance(slot, admission.Slot):
            self._warn_limit(slot, address)
            _answer_and_close(sock, BUSY[slot])
            return
        self._spawn(self._serve, sock, address, slot)

    def _serve(self, sock, address, slot):
        try:
            handler = self.handler_class(sock, address, self)
            handler.slot = slot
            handler.handle()
            then = handler.hand_over()
            del handler  # before ``then`` runs: nothing of the request outlives it
            if then is not None:
                try:
                    then()
                except Exception:  # what Flask would have logged, had the view still been running
                    log.exception("upgraded connection from %s failed", address[0])
        finally:
            self.limits.release(slot)
            self.do_close(sock)

    def admit_handed(self, sock):
        """Count a stream a sibling worker handed over (``siblings``); its ``release``, or ``None``
        when this worker is full. Behind a proxy only the total counts: the client the proxy
        named was read by the giver."""
        client = None
        if not self.behind_proxy:
            try:
                client = sock.getpeername()[0]
            except OSError:
                return None  # the peer is gone already
        slot = self.limits.admit(client)
        if isinstance(slot, str):
            self._warn_limit(slot, (client or "a sibling's stream",))
            return None
        return functools.partial(self.limits.release, slot)

    def count_client(self, slot: admission.Slot, client: str) -> bool:
        """Count this connection under ``client`` (a WebSocket the proxy says is theirs)."""
        if self.limits.rekey(slot, client):
            return True
        self._warn_limit(admission.CLIENT, (client,))
        return False

    def do_read(self):
        try:
            return super().do_read()
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise
        self._warn_limit("descriptors", ("-",))
        # Free the reserved descriptor to take one waiting connection, answer it and
        # close it; the listener stays readable while more wait, so each gets the same.
        os.close(self._reserve)
        try:
            fd, _address = self.socket._accept()
            conn = socket.socket(fileno=fd)
            _answer_and_close(conn, BUSY[admission.TOTAL])
        except OSError:
            pass
        finally:
            self._reserve = os.open(os.devnull, os.O_RDONLY)
        return None

    def _warn_limit(self, kind: str, address) -> None:
        now = time.monotonic()
        if now - self._warned.get(kind, -WARN_EVERY) >= WARN_EVERY:
            self._warned[kind] = now
            log.warning("connection limit reached (%s; last from %s): answering 503 to new connections "
                        "(%d open, refused so far: %s)", kind, address[0], self.limits.open,
                        dict(self.limits.refused))

    def close(self):
        super().close()
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None


def _answer_and_close(sock, response: bytes) -> None:
    """Send ``response`` if the socket takes it now, then close without a reset.

    Never blocks (it runs in the hub). What the client already sent is read
    first: closing with unread data would send RST, which can destroy the
    answer before the client reads it.
    """
    try:
        sock.setblocking(False)
        try:
            for _ in range(4):  # what is there now, not a flood that keeps coming
                if not sock.recv(65536):
                    break
        except OSError:  # nothing more waiting (EAGAIN), or the peer is gone
            pass
        sock.send(response)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        sock.close()
