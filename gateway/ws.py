"""WebSocket routes: the viewer, the agent control channel, agent streams.

Each route is an ordinary Flask view, so authorisation runs in the request
context with the login session; only once it passes does the view take the
raw socket from the server (``ponte.take_socket``, see ``server.py``) and
speak RFC 6455 on it with websockify's ``WebSocket``. The handshake headers
are checked first (``handshake.py``): a bad one gets an HTTP 400, never a
dropped socket. Before it is authenticated a socket gets ``HELLO_TIMEOUT``
in total for its first message, however slowly it dribbles.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import gevent
from flask import Blueprint, Response, abort, current_app, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import Headers

from agents.protocol import control
from agents.protocol.framing import FramedWebSocket, FramingError
from agents.protocol.text import clean

from . import handshake, refs, sessions
from .database import UNAVAILABLE
from .extensions import csrf, db, limiter
from .hub import AgentChannel, AgentUnavailable, Hub
from .live import LiveStoreError
from .models import Machine, machine_for_user, note_agent_seen
from .peering import Forward
from .relay import CLOSE_RESTART, RESTART_MESSAGE, RESTART_REASON, Relay
from .security import token_matches

log = logging.getLogger(__name__)

bp = Blueprint("ws", __name__, url_prefix="/ws")
csrf.exempt(bp)
limiter.exempt(bp)

CLOSE_POLICY = 4003
CLOSE_UNAVAILABLE = 4004
CLOSE_TRY_AGAIN = 1013  # RFC 6455 close code registry: Try Again Later
#: Total seconds an unauthenticated socket has for its first message (hello, attach).
CLOSE_UNRECORDED = 1011
HELLO_TIMEOUT = 10.0
UPGRADED = Response(status=101)


def _hub() -> Hub:
    return current_app.extensions["ponte.hub"]


def _handshake(*, tickets: bool = False) -> handshake.Handshake:
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


def _accept(hs: handshake.Handshake, max_message: int) -> FramedWebSocket:
    """Take the socket and answer 101 (RFC 6455 §4.2.2) for a handshake ``_handshake`` passed."""
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
        raise _Upgraded() from exc
    return ws


class _Upgraded(Exception):
    """The socket was taken; nothing more may be written as HTTP."""


class _TooSlow(Exception):
    """The first message did not arrive within ``HELLO_TIMEOUT``."""


def _first_message(ws: FramedWebSocket) -> bytes:
    """The first message, within ``HELLO_TIMEOUT`` in total (a per-read timeout would let a
    byte every few seconds hold the socket for ever); ``_TooSlow`` otherwise."""
    ws.settimeout(HELLO_TIMEOUT)  # also bounds our answer to a peer that does not read
    with gevent.Timeout(HELLO_TIMEOUT, _TooSlow):
        return ws.read_message() or b""


def _origin_allowed() -> bool:
    """The Origin is exactly one we serve (``handshake.origin``: normalised, compared whole)."""
    origin = handshake.origin(request.headers.get("Origin", ""))
    if origin is None:
        return False
    settings = current_app.config["PONTE"]
    allowed = {handshake.origin_of_url(url) for url in (settings.public_origin, *settings.allowed_origins)}
    # Same scheme and host as the request: what a browser sends for a page we served.
    allowed.add(handshake.origin_of_url(f"{request.scheme}://{request.host}"))
    return origin in allowed


@bp.errorhandler(_Upgraded)
def _upgraded(_exc):
    return UPGRADED


def _refuse(status: int, why: str, message: str):
    current_app.extensions["ponte.metrics"].session_refused.labels(why).inc()
    log.info("viewer socket refused (%s) from %s: %s", why, request.remote_addr, message)
    abort(status, message)


@bp.route("/view", websocket=True)
def view():
    """Browser side of a session: ticket → agent stream → relay.

    The ticket comes as the subprotocol ``ponte.ticket.<ticket>`` (never in a
    URL a proxy logs). ``?ticket=`` still works for clients older than that
    (``agents forward`` installed on people's PCs upgrades on its own
    schedule): it is one-time, 30 s and bound to the cookie's user, and a
    proxy logs a WebSocket request when it ends, long after its ticket was used.
    """
    settings = current_app.config["PONTE"]
    hs = _handshake(tickets=True)
    if not _origin_allowed():
        _refuse(403, "origin", "This page's origin may not open sessions here.")
    if not current_user.is_authenticated:
        _refuse(401, "anonymous", "Log in first.")
    ticket = sessions.live().consume_ticket(hs.ticket or request.args.get("ticket", ""))
    if ticket is None:
        _refuse(403, "ticket", "This ticket is unknown, used or expired. Open the PC again from the portal.")
    if ticket.user_id != current_user.id:
        _refuse(403, "ticket_owner", "This ticket belongs to someone else.")
    machine = machine_for_user(current_user, ticket.machine_id)
    if machine is None:
        _refuse(403, "grant", "You may not open this PC.")
    user = current_user._get_current_object()
    client_ip = request.remote_addr or ""
    hub = _hub()
    try:
        slot = hub.request_stream(machine.id, ticket.session)
    except AgentUnavailable:
        _refuse(409, "offline", "The PC is offline: its Ponte agent is not connected.")

    viewer = _accept(hs, settings.max_message)
    try:
        agent_ws, attached = slot.result.get(timeout=settings.stream_timeout)
    except gevent.Timeout:
        hub.session_done(ticket.session)
        if slot.result.ready() and slot.result.successful():
            # Attached in the same instant we gave up (no yield between the two
            # paths, so this check is exact): release the stream's greenlet.
            late_ws, late_attached = slot.result.get()
            late_ws.close_with(1000, "The viewer gave up waiting")
            late_attached.set()
        viewer.close_with(CLOSE_UNAVAILABLE, "The PC did not answer in time")
        return UPGRADED
    except AgentUnavailable as exc:
        if hub.draining:
            viewer.close_with(CLOSE_RESTART, RESTART_MESSAGE)
        else:
            viewer.close_with(CLOSE_UNAVAILABLE, f"The PC could not start the session: {exc}")
        return UPGRADED

    try:
        live_fields = sessions.started(ticket.session, user, machine, client_ip, settings.node_id)
    except SQLAlchemyError as exc:
        # No history row, no session: every session that runs is on record.
        log.warning("session %s not started: SQL did not take its record: %s", ticket.session, exc)
        hub.session_done(ticket.session)
        agent_ws.close_with(1000, "Session not started")
        attached.set()
        viewer.close_with(CLOSE_UNRECORDED, "The gateway cannot record sessions right now. Try again in a moment.")
        db.session.remove()
        return UPGRADED
    current_app.extensions["ponte.metrics"].sessions_started.inc()
    machine_id, user_id = machine.id, user.id
    db.session.remove()  # no database connection held for the hours a session lasts

    live = sessions.live()

    def progress(up: int, down: int) -> None:
        if not live.session_bytes(ticket.session, up, down):
            hub.request_reassert()  # Redis lost our records: write them back whole

    relay = Relay(ticket.session, viewer, agent_ws, machine_id=machine_id, user_id=user_id,
                  on_progress=progress, ping_interval=settings.stream_ping_interval, live_fields=live_fields,
                  fair_share=hub.fair_share)
    hub.relay_started(slot, relay)
    try:
        try:
            result = relay.run()
        finally:
            attached.set()
        failure = slot.failure
        if failure is not None:
            result = dataclasses.replace(result, reason=f"The PC could not start the session: {failure}")
        # Recorded while the hub still holds the session: a reaper never takes it for a leftover.
        sessions.finish(sessions.end_record(
            ticket.session, live_fields, to_viewer=result.to_viewer, from_viewer=result.from_viewer,
            reason=result.reason, ended_by=sessions.ENDED_BY_PC if failure is not None else ""))
    finally:
        hub.session_done(ticket.session)
        db.session.remove()
    current_app.extensions["ponte.metrics"].session_ended(result.reason, result.to_viewer, result.from_viewer)
    log.info("session %s ended: %s (%d bytes to viewer, %d from)", ticket.session,
             result.reason, result.to_viewer, result.from_viewer)
    return UPGRADED


@bp.route("/agent/stream/<session>", websocket=True)
def agent_stream(session: str):
    """An agent's stream for one session; held open until the relay ends."""
    settings = current_app.config["PONTE"]
    hub = _hub()
    db.session.remove()
    hs = _handshake()
    if refs.session_id(session) is None:
        abort(404, "No session is waiting for this stream.")
    if session not in hub.pending:
        address = _waiting_elsewhere(session, settings)
        if address is None or hub.draining:
            abort(404, "No session is waiting for this stream.")
        forward = Forward(_accept(hs, settings.max_message), address, session, settings.max_message,
                          ping_interval=settings.stream_ping_interval)
        hub.forwards[session] = forward
        try:
            forward.run()
        finally:
            hub.forwards.pop(session, None)
        return UPGRADED
    ws = _accept(hs, settings.max_message)
    try:
        event = control.decode(_first_message(ws), control.STREAM_ATTACH)
    except _TooSlow:
        ws.close_with(CLOSE_POLICY, f"No stream attach within {HELLO_TIMEOUT:g} s")
        return UPGRADED
    except (control.ControlError, FramingError, OSError) as exc:
        ws.close_with(CLOSE_POLICY, f"Bad stream attach: {exc}"[:100])
        return UPGRADED
    slot = hub.claim_stream(session, event.token)
    if slot is None:
        ws.close_with(CLOSE_POLICY, "Unknown stream token")
        return UPGRADED
    ws.settimeout(None)
    try:
        sessions.live().stream_arrived(session)
    except LiveStoreError:
        pass  # the marker expires by itself
    attached = gevent.event.Event()
    slot.result.set((ws, attached))
    attached.wait()
    return UPGRADED


def _waiting_elsewhere(session: str, settings) -> str | None:
    """The internal address of the node whose viewer waits for ``session``, if another."""
    live = sessions.live()
    try:
        node = live.stream_waiter(session)
        if not node or node == settings.node_id:
            return None
        return live.node_address(node)
    except LiveStoreError:
        return None


@bp.route("/agent", websocket=True)
def agent_control():
    """An agent's control channel: hello, then heartbeats until it goes."""
    settings = current_app.config["PONTE"]
    hub = _hub()
    live = sessions.live()
    ws = _accept(_handshake(), control.DEFAULT_MAX_MESSAGE)
    try:
        hello = control.decode_from_agent(_first_message(ws))
        if not isinstance(hello, control.Hello):
            raise control.ControlError("expected hello")
    except _TooSlow:
        ws.close_with(CLOSE_POLICY, f"No hello within {HELLO_TIMEOUT:g} s")
        return UPGRADED
    except (control.ControlError, FramingError, OSError) as exc:
        ws.close_with(CLOSE_POLICY, f"Bad hello: {exc}"[:100])
        return UPGRADED

    machine, refusal = _check_credential(hello.credential)
    if machine is None:
        log.info("agent refused from %s: %s", request.remote_addr, refusal.message)
        try:
            ws.write_message(control.encode(refusal))
        except OSError:
            pass
        ws.close_with(CLOSE_TRY_AGAIN if refusal.code == "unavailable" else CLOSE_POLICY, refusal.message)
        db.session.remove()
        return UPGRADED

    if hello.mode == "check":
        ws.write_message(control.encode(control.Welcome(machine=machine.name, heartbeat=settings.heartbeat)))
        ws.close_with(1000, "credential ok")
        db.session.remove()
        return UPGRADED

    if hub.draining:
        ws.close_with(CLOSE_RESTART, RESTART_REASON)
        db.session.remove()
        return UPGRADED
    channel = AgentChannel(machine.id, machine.name, ws)
    info = hello.info
    _note_seen(machine.id, info)
    db.session.remove()
    try:
        channel.send(control.Welcome(machine=channel.machine_name, heartbeat=settings.heartbeat))
        hub.attach_agent(channel)
        _mark_online(live, channel, info, settings)
        ws.settimeout(settings.heartbeat * 3)  # three missed heartbeats: offline
        while True:
            message = ws.read_message()
            if message is None:
                break
            event = control.decode_from_agent(message)
            if isinstance(event, control.Heartbeat):
                info = event.info
                _mark_online(live, channel, info, settings)
            elif isinstance(event, control.StreamFailed):
                hub.stream_failed(channel.machine_id, event.session, event.reason)
            else:
                raise control.ControlError("unexpected hello")
    except control.ControlError as exc:
        log.info("agent %s sent junk: %s", channel.machine_name, exc)
        channel.close(CLOSE_POLICY, f"Protocol error: {exc}"[:100])
    except (OSError, FramingError) as exc:
        log.info("agent %s control channel lost: %r", channel.machine_name, exc)
    finally:
        if hub.detach_agent(channel):
            try:
                live.agent_offline(channel.machine_id, settings.node_id)
            except LiveStoreError as exc:
                log.warning("could not mark %s offline: %s", channel.machine_name, exc)
            _note_seen(channel.machine_id, info)
        channel.close(1000, "bye")
    return UPGRADED


def _note_seen(machine_id: int, info: control.AgentInfo) -> None:
    """Last known agent facts in SQL: what admins see once the agent is offline."""
    try:
        machine = db.session.get(Machine, machine_id)
        if machine is not None:
            note_agent_seen(machine, {"version": info.version, "os": info.os, "hostname": info.hostname})
            db.session.commit()
    except SQLAlchemyError as exc:  # advisory: never drop an agent over it
        db.session.rollback()
        log.warning("last-seen of machine %s not stored: %s", machine_id, exc)
    finally:
        db.session.remove()


def _mark_online(live, channel: AgentChannel, info: control.AgentInfo, settings) -> None:
    channel.fields = {"name": channel.machine_name, "version": info.version, "os": info.os,
                      "hostname": info.hostname, "vnc_ok": info.vnc_ok, "vnc_detail": info.vnc_detail,
                      "vnc_state": info.vnc_state}
    try:
        live.agent_online(channel.machine_id, settings.node_id, channel.fields, ttl=settings.heartbeat * 3 + 5,
                          since=channel.since)
    except LiveStoreError as exc:
        # Redis restarting: the agent stays connected; the hub re-asserts it
        # as soon as Redis answers again.
        log.warning("agent %s not marked online: %s", channel.machine_name, exc)


def _check_credential(credential: str) -> tuple[Machine | None, control.Refused | None]:
    """The machine a credential belongs to, or the refusal to send."""
    machine_ref, _, secret = credential.partition(".")
    machine_id = refs.record_id(machine_ref)
    try:
        machine = db.session.get(Machine, machine_id) if machine_id is not None else None
    except UNAVAILABLE as exc:  # not a verdict on the credential: the agent retries
        log.warning("agent credential not checked, database unavailable: %s", exc)
        return None, control.Refused(code="unavailable", message="The gateway cannot check credentials right "
                                     "now (its database is unavailable); try again shortly.")
    if machine is None or not token_matches(machine.credential_hash, secret):
        return None, control.Refused(code="unknown", message="Unknown machine credential.")
    if machine.revoked_at is not None:
        return None, control.Refused(code="revoked", message="This machine's credential was revoked.")
    return machine, None

