"""An agent's stream arriving at this node: attached here, handed to a sibling, or forwarded.

A session's screen and a file transfer each come on a stream of their own
(``/ws/agent/stream/<session>``, ``/ws/agent/files/<transfer>``, routes in
``ws``). The stream may land on any node: attached here if what it is for
waits here (its one-time attach token checked), handed socket and all to a
sibling worker of this machine (``siblings``), else relayed to the node
where it waits (``peering.Forward``).
"""

from __future__ import annotations

import logging

import gevent
import gevent.event
from flask import abort, current_app, request

from agents.protocol import control
from agents.websocket import FramingError

from . import files, refs, sessions
from .errors import SiblingError
from .extensions import db
from .hub import Hub
from .live import LiveStoreError
from .peering import Forward
from .upgrade import (CLOSE_POLICY, CLOSE_TRY_AGAIN, HELLO_TIMEOUT, UPGRADED, TooSlow, accept, checked_handshake,
                      first_message)

log = logging.getLogger(__name__)


def _hub() -> Hub:
    return current_app.extensions["ponte.hub"]


def _attach_rules(kind: str, ref: str):
    """How a stream of ``kind`` is attached here: ``claim(ref, token)`` → the waiting slot or None,
    and ``attached(ws)``, called once it is claimed."""
    hub, settings = _hub(), current_app.config["PONTE"]
    if kind == "session":
        def attached(ws):
            ws.settimeout(None)
            try:
                sessions.live().stream_arrived(ref)
            except LiveStoreError:
                pass  # the marker expires by itself

        return hub.claim_stream, attached

    def file_attached(ws):
        ws.settimeout(settings.http_timeout * 2)  # a silent agent must not hold the person's request for ever

    return (lambda ref, token: files.claim(hub, ref, token)), file_attached


def arrived(ref: str, noun: str, waits_here, **forward_options):
    """An agent's stream for ``ref`` (a session or a transfer: ``noun``) reached this node: if
    ``ref`` waits on another (``waits_here()`` says not here), hand the stream to that node if it
    is a sibling worker of this machine, else forward it there; if here, attach it (``_attach``)."""
    settings = current_app.config["PONTE"]
    hub = _hub()
    db.session.remove()
    hs = checked_handshake()
    if refs.session_id(ref) is None:
        abort(404, f"No {noun} is waiting for this stream.")
    if not waits_here():
        node, address = _waiting_elsewhere(ref, settings)
        sibling = node is not None and hub.siblings is not None and hub.siblings.reaches(node)
        if (address is None and not sibling) or hub.draining:
            abort(404, f"No {noun} is waiting for this stream.")
        ws = accept(hs, settings.max_message)
        if sibling and _hand_to_sibling(hub, node, ws, noun, ref):
            return UPGRADED
        if address is None:
            ws.close_with(CLOSE_TRY_AGAIN, f"No {noun} is waiting for this stream.")
            return UPGRADED
        forward = Forward(ws, address, ref, settings.max_message,
                          ping_interval=settings.stream_ping_interval, **forward_options)
        hub.forwards[ref] = forward
        try:
            forward.run()
        finally:
            hub.forwards.pop(ref, None)
        return UPGRADED
    _attach(accept(hs, settings.max_message), ref, *_attach_rules(noun, ref))
    return UPGRADED


def _attach(ws, ref: str, claim, attached) -> None:
    """Check the stream's attach token, hand it to the waiter (``slot.result``) after
    ``attached(ws)``, and hold it until the waiter releases it."""
    try:
        event = control.decode(first_message(ws), control.STREAM_ATTACH)
    except TooSlow:
        ws.close_with(CLOSE_POLICY, f"No stream attach within {HELLO_TIMEOUT:g} s")
        return
    except (control.ControlError, FramingError, OSError) as exc:
        ws.close_with(CLOSE_POLICY, f"Bad stream attach: {exc}"[:100])
        return
    slot = claim(ref, event.token)
    if slot is None:
        ws.close_with(CLOSE_POLICY, "Unknown stream token")
        return
    attached(ws)
    released = gevent.event.Event()
    slot.result.set((ws, released))
    released.wait()


def _hand_to_sibling(hub: Hub, node: str, ws, kind: str, ref: str) -> bool:
    """Pass the stream's socket to sibling worker ``node`` (``siblings``); False: it did not take it."""
    try:
        hub.siblings.hand_over(node, ws, kind, ref)
    except SiblingError as exc:
        log.info("%s %s: %s; relaying it node to node instead", kind, ref, exc)
        return False
    request.environ["ponte.release_socket"]()
    log.info("%s %s: stream handed to worker %s", kind, ref, node)
    return True


def receive_from_sibling(app, kind: str, ref: str, ws) -> None:
    """A stream a sibling worker accepted for one of ours (``siblings``): attached as if it came here."""
    with app.app_context():
        _attach(ws, ref, *_attach_rules(kind, ref))
        db.session.remove()


def _waiting_elsewhere(session: str, settings) -> tuple[str | None, str | None]:
    """The node whose viewer waits for ``session``, if another, and its internal address."""
    live = sessions.live()
    try:
        node = live.stream_waiter(session)
        if not node or node == settings.node_id:
            return None, None
        return node, live.node_address(node)
    except LiveStoreError:
        return None, None
