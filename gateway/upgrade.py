"""Taking a WebSocket from inside a Flask view (what every route in ``ws`` shares).

A route is an ordinary Flask view, so authorisation runs in the request
context with the login session; only once it passes does the view take the
raw socket from the server (``ponte.take_socket``, see ``server.py``) and
speak RFC 6455 on it with websockify's ``WebSocket``. The handshake headers
are checked first (``handshake.py``): a bad one gets an HTTP 400, never a
dropped socket. Before it is authenticated a socket gets ``HELLO_TIMEOUT``
in total for its first message, however slowly it dribbles. A socket held
open long after that (an agent's control channel) can run on once its
request has ended (``after_request``), keeping none of the request's objects.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import gevent
from flask import Response, abort, request
from werkzeug.datastructures import Headers

from agents.websocket import FramedWebSocket
from agents.protocol.text import clean

from . import handshake

log = logging.getLogger("gateway.ws")

#: Total seconds an unauthenticated socket has for its first message (hello, attach).
HELLO_TIMEOUT = 10.0
#: What a view returns once it took the socket: the server writes nothing more.
UPGRADED = Response(status=101)
#: Close codes of the agent routes: a refusal, and "Try Again Later" (RFC 6455's code registry).
CLOSE_POLICY = 4003
CLOSE_TRY_AGAIN = 1013


class Upgraded(Exception):
    """The socket was taken; nothing more may be written as HTTP (the blueprint answers ``UPGRADED``)."""


class TooSlow(Exception):
    """The first message did not arrive within ``HELLO_TIMEOUT``."""


def checked_handshake(*, tickets: bool = False) -> handshake.Handshake:
    """The checked handshake of this request, before anything else is done for it.

    A bad one is answered with HTTP 400 here. A good one holds its socket for
    hours: from here it counts towards its client's connection limit, under
    the address the proxy reported when there is one (``admission.py``);
    over it, 503.
    """
    try:
        if request.environ.get("ponte.take_socket") is None:
            raise handshake.HandshakeError("This address only speaks WebSocket.")
        hs = handshake.check(request.headers, tickets=tickets)
    except handshake.HandshakeError as exc:
        log.info("bad WebSocket handshake from %s: %s", request.remote_addr, clean(exc.message))
        # Close after the answer: what the client sends next is not HTTP we can read.
        _answer(400, "bad_handshake", exc.message, {"Connection": "close", **exc.headers})
    count_client = request.environ.get("ponte.count_client")
    if count_client is not None and not count_client(request.remote_addr or ""):
        _answer(503, "too_many_connections", "Too many connections from your address are open on this gateway.",
                {"Retry-After": "5", "Connection": "close"})
    return hs


def _answer(status: int, code: str, message: str, headers: dict) -> None:
    """End the request with a JSON error that carries ``headers`` (the app's handlers drop them)."""
    body = json.dumps({"error": {"code": code, "message": message}})
    abort(Response(body, status, headers, mimetype="application/json"))


class _ServerSocket(FramedWebSocket):
    """The gateway's side: answers with the subprotocol ``handshake.check`` chose."""

    def __init__(self, max_message: int, protocol: str):
        super().__init__(max_message)
        self._protocol = protocol

    def select_subprotocol(self, protocols):
        return self._protocol


def accept(hs: handshake.Handshake, max_message: int) -> FramedWebSocket:
    """Take the socket and answer 101 (RFC 6455 §4.2.2) for a handshake ``checked_handshake`` passed."""
    ws = _ServerSocket(max_message, hs.protocol)
    headers = Headers(request.headers)
    # websockify reads the offer as one comma-separated header and needs our
    # choice to be in it: hand it just the choice.
    headers.remove("Sec-WebSocket-Protocol")
    if hs.protocol:
        headers["Sec-WebSocket-Protocol"] = hs.protocol
    try:
        ws.accept(request.environ["ponte.take_socket"](), headers)
    except Exception as exc:  # the peer went away mid-answer (websockify raises bare Exception)
        log.info("WebSocket from %s lost during the handshake: %r", request.remote_addr, exc)
        raise Upgraded() from exc
    return ws


def after_request(then: Callable[[], None]) -> None:
    """Run ``then()`` in this connection's greenlet once the view has returned ``UPGRADED`` and
    its request has ended (``server.UpgradeHandler``); only after ``accept``.

    ``then`` runs outside any request or application context, so it must not close over the
    request's objects (rows, ``request``, ``g``): what it holds is what the connection costs
    for as long as it is open. Its exceptions are logged and end the connection.
    """
    request.environ["ponte.after_request"](then)


def first_message(ws: FramedWebSocket) -> bytes:
    """The first message, within ``HELLO_TIMEOUT`` in total (a per-read timeout would let a
    byte every few seconds hold the socket for ever); ``TooSlow`` otherwise."""
    ws.settimeout(HELLO_TIMEOUT)  # also bounds our answer to a peer that does not read
    with gevent.Timeout(HELLO_TIMEOUT, TooSlow):
        return ws.read_message() or b""
