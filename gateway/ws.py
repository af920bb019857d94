"""WebSocket routes: the viewer, the agent control channel, agent streams.

Each route is an ordinary Flask view, so authorisation runs in the request
context with the login session; only once it passes does the view take the
raw socket from the server (``ponte.take_socket``, see ``server.py``) and
speak RFC 6455 on it with websockify's ``WebSocket``.
"""

from __future__ import annotations

import dataclasses
import logging
from urllib.parse import urlsplit

import gevent
from flask import Blueprint, Response, abort, current_app, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from agents.protocol import control
from agents.protocol.framing import FramedWebSocket, FramingError

from . import sessions
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
CLOSE_UNRECORDED = 1011
HELLO_TIMEOUT = 10.0
UPGRADED = Response(status=101)


def _hub() -> Hub:
    return current_app.extensions["ponte.hub"]


def _upgrade(max_message: int) -> FramedWebSocket:
    take = request.environ.get("ponte.take_socket")
    if take is None or request.headers.get("Upgrade", "").lower() != "websocket":
        abort(400, "This address only speaks WebSocket.")
    ws = FramedWebSocket(max_message)
    try:
        ws.accept(take(), request.headers)
    except Exception as exc:  # websockify raises bare Exception on bad handshakes
        log.info("bad WebSocket handshake from %s: %s", request.remote_addr, exc)
        raise _Upgraded() from exc
    return ws


class _Upgraded(Exception):
    """The socket was taken; nothing more may be written as HTTP."""


def _origin_allowed() -> bool:
    origin = request.headers.get("Origin", "")
    if not origin:
        return False
    settings = current_app.config["PONTE"]
    if origin == settings.public_origin or origin in settings.allowed_origins:
        return True
    # Same host as the request: what a browser sends for a page we served.
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request.host


@bp.errorhandler(_Upgraded)
def _upgraded(_exc):
    return UPGRADED


def _refuse(status: int, why: str, message: str):
    current_app.extensions["ponte.metrics"].session_refused.labels(why).inc()
    log.info("viewer socket refused (%s) from %s: %s", why, request.remote_addr, message)
    abort(status, message)


@bp.route("/view", websocket=True)
def view():
    """Browser side of a session: ticket → agent stream → relay."""
    settings = current_app.config["PONTE"]
    if not _origin_allowed():
        _refuse(403, "origin", "This page's origin may not open sessions here.")
    if not current_user.is_authenticated:
        _refuse(401, "anonymous", "Log in first.")
    ticket = sessions.live().consume_ticket(request.args.get("ticket", ""))
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
        pending = hub.request_stream(machine.id, ticket.session)
    except AgentUnavailable:
        _refuse(409, "offline", "The PC is offline: its Ponte agent is not connected.")

    viewer = _upgrade(settings.max_message)
    try:
        agent_ws, attached = pending.result.get(timeout=settings.stream_timeout)
    except gevent.Timeout:
        hub.forget_stream(ticket.session)
        if pending.result.ready() and pending.result.successful():
            # Attached in the same instant we gave up (no yield between the two
            # paths, so this check is exact): release the stream's greenlet.
            late_ws, late_attached = pending.result.get()
            late_ws.close_with(1000, "The viewer gave up waiting")
            late_attached.set()
        hub.session_done(ticket.session)
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
                  on_progress=progress, ping_interval=settings.stream_ping_interval, live_fields=live_fields)
    hub.relays[ticket.session] = relay
    try:
        try:
            result = relay.run()
        finally:
            attached.set()
        failure = hub.failures.get(ticket.session)
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
    if session not in hub.pending:
        address = _waiting_elsewhere(session, settings)
        if address is None or hub.draining:
            abort(404, "No session is waiting for this stream.")
        forward = Forward(_upgrade(settings.max_message), address, session, settings.max_message,
                          ping_interval=settings.stream_ping_interval)
        hub.forwards[session] = forward
        try:
            forward.run()
        finally:
            hub.forwards.pop(session, None)
        return UPGRADED
    ws = _upgrade(settings.max_message)
    ws.settimeout(HELLO_TIMEOUT)
    try:
        event = control.decode(ws.read_message() or b"", control.STREAM_ATTACH)
    except (control.ControlError, FramingError, OSError) as exc:
        ws.close_with(CLOSE_POLICY, f"Bad stream attach: {exc}"[:100])
        return UPGRADED
    pending = hub.claim_stream(session, event.token)
    if pending is None:
        ws.close_with(CLOSE_POLICY, "Unknown stream token")
        return UPGRADED
    ws.settimeout(None)
    try:
        sessions.live().stream_arrived(session)
    except LiveStoreError:
        pass  # the marker expires by itself
    attached = gevent.event.Event()
    pending.result.set((ws, attached))
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
    ws = _upgrade(control.DEFAULT_MAX_MESSAGE)
    ws.settimeout(HELLO_TIMEOUT)
    try:
        hello = control.decode_from_agent(ws.read_message() or b"")
        if not isinstance(hello, control.Hello):
            raise control.ControlError("expected hello")
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
        ws.close_with(CLOSE_POLICY, refusal.message)
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
                      "hostname": info.hostname, "vnc_ok": info.vnc_ok, "vnc_detail": info.vnc_detail}
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
    machine = db.session.get(Machine, int(machine_ref)) if machine_ref.isdigit() else None
    if machine is None or not token_matches(machine.credential_hash, secret):
        return None, control.Refused(code="unknown", message="Unknown machine credential.")
    if machine.revoked_at is not None:
        return None, control.Refused(code="revoked", message="This machine's credential was revoked.")
    return machine, None

