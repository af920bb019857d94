"""WebSocket routes: the viewer, the agent control channel, agent streams.

Each route is an ordinary Flask view: it checks the handshake and authorises
in the request context, then takes the socket (``upgrade``). A viewer's
session is run by ``pairing``; an agent's stream is attached here, handed
to a sibling worker or forwarded to the node where its viewer waits
(``streams``).
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from agents.protocol import control
from agents.websocket import FramingError

from . import refs, sessions, streams, tenancy
from .database import UNAVAILABLE
from .extensions import csrf, db, limiter
from .hub import CLOSE_REPLACED, AgentChannel, Hub
from .live import LiveStoreError
from .models import Machine, interfaces_json, note_agent_seen
from .ops.organisations import FIRM_DISABLED, organisation_disabled
from .pairing import Pairing, authorise
from .quality import far_leg_fields
from .relay import CLOSE_RESTART, RESTART_REASON
from .security import token_matches
# Under the private names the agent routes' bodies were written with (they moved here unchanged).
from .upgrade import CLOSE_POLICY, CLOSE_TRY_AGAIN, HELLO_TIMEOUT, UPGRADED, Upgraded
from .upgrade import TooSlow as _TooSlow
from .upgrade import accept as _accept
from .upgrade import after_request
from .upgrade import checked_handshake as _handshake
from .upgrade import first_message as _first_message

log = logging.getLogger(__name__)

bp = Blueprint("ws", __name__, url_prefix="/ws")
csrf.exempt(bp)
limiter.exempt(bp)


def _hub() -> Hub:
    return current_app.extensions["ponte.hub"]


@bp.errorhandler(Upgraded)
def _upgraded(_exc):
    return UPGRADED


@bp.route("/view", websocket=True)
def view():
    """Browser side of a session: ticket → agent stream → relay (``pairing``)."""
    settings = current_app.config["PONTE"]
    hs = _handshake(tickets=True)
    viewing = authorise(hs)
    pairing = Pairing(_hub(), settings, current_app.extensions["ponte.metrics"])
    pairing.run(viewing, lambda: _accept(hs, settings.max_message))
    return UPGRADED


@bp.route("/agent/stream/<session>", websocket=True)
def agent_stream(session: str):
    """An agent's stream for one session; held open until the relay ends."""
    hub = _hub()
    return streams.arrived(session, "session", lambda: session in hub.pending,
                           on_agent_rtt=lambda probe: _far_leg(hub, session, probe))


@bp.route("/agent/files/<transfer>", websocket=True)
def agent_files(transfer: str):
    """An agent's file stream for one transfer (``files``): attached like a session's stream,
    forwarded to the node whose request waits if it landed elsewhere."""
    hub = _hub()
    return streams.arrived(transfer, "transfer", lambda: transfer in hub.transfers,
                           path=f"/ws/agent/files/{transfer}")


@bp.route("/agent", websocket=True)
def agent_control():
    """An agent's control channel: hello, then heartbeats until it goes."""
    settings = current_app.config["PONTE"]
    hub = _hub()
    live = sessions.live()
    ws = _accept(_handshake(), control.DEFAULT_MAX_MESSAGE)
    opened = hub.opening()
    conn = control.GatewayConnection()
    try:
        (hello,) = conn.receive(_first_message(ws))  # anything but a Hello raises
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
            ws.write_message(conn.send(refusal))
        except OSError:
            pass
        ws.close_with(CLOSE_TRY_AGAIN if refusal.code == "unavailable" else CLOSE_POLICY, refusal.message)
        db.session.remove()
        return UPGRADED

    if hello.mode == "check":
        ws.write_message(conn.send(control.Welcome(machine=machine.name, heartbeat=settings.heartbeat)))
        ws.close_with(1000, "credential ok")
        db.session.remove()
        return UPGRADED

    if hub.draining:
        ws.close_with(CLOSE_RESTART, RESTART_REASON)
        db.session.remove()
        return UPGRADED
    channel = AgentChannel(machine.id, machine.name, ws, conn, organisation_id=machine.organisation_id,
                           opened=opened)
    info = hello.info
    _note_seen(machine.id, info)
    db.session.remove()
    # The channel may stay open for days: it runs on after this request (its rows, headers and
    # buffers freed), holding only what the conversation needs (issue 16: RSS per idle agent).
    app = current_app._get_current_object()
    after_request(lambda: _converse(app, hub, live, settings, channel, info))
    return UPGRADED


def _converse(app, hub: Hub, live, settings, channel: AgentChannel, info: control.AgentInfo) -> None:
    """An agent's welcomed control channel: heartbeats and stream failures until it goes.

    Runs after its request (``upgrade.after_request``): no request or application context.
    """
    ws, conn = channel.ws, channel.conn
    try:
        # Not through channel.send yet: nobody else writes before attach_agent.
        ws.write_message(conn.send(control.Welcome(machine=channel.machine_name, heartbeat=settings.heartbeat)))
        if not hub.attach_agent(channel):
            log.info("agent %s: a newer channel of it is current; closing this one", channel.machine_name)
            channel.close(CLOSE_REPLACED, "Replaced by a newer connection")
            return
        _mark_online(live, channel, info, settings)
        ws.settimeout(settings.heartbeat * 3)  # three missed heartbeats: offline
        while True:
            message = ws.read_message()
            if message is None:
                break
            for event in conn.receive(message):  # a Heartbeat or a StreamFailed; anything else raises
                if isinstance(event, control.Heartbeat):
                    info = event.info
                    _mark_online(live, channel, info, settings)
                else:
                    hub.stream_failed(channel.machine_id, event.session, event.reason)
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
            with app.app_context(), tenancy.acting_for(channel.organisation_id):
                _note_seen(channel.machine_id, info)
        channel.close(1000, "bye")


def _note_seen(machine_id: int, info: control.AgentInfo) -> None:
    """Last known agent facts in SQL: what admins see once the agent is offline."""
    try:
        machine = db.session.get(Machine, machine_id)
        if machine is not None:
            note_agent_seen(machine, {"version": info.version, "os": info.os, "hostname": info.hostname,
                                      "interfaces": info.interfaces})
            db.session.commit()
    except SQLAlchemyError as exc:  # advisory: never drop an agent over it
        db.session.rollback()
        log.warning("last-seen of machine %s not stored: %s", machine_id, exc)
    finally:
        db.session.remove()


def _mark_online(live, channel: AgentChannel, info: control.AgentInfo, settings) -> None:
    channel.fields = {"name": channel.machine_name, "version": info.version, "os": info.os,
                      "hostname": info.hostname, "vnc_ok": info.vnc_ok, "vnc_detail": info.vnc_detail,
                      "vnc_state": info.vnc_state, "interfaces": interfaces_json(info.interfaces),
                      "org": channel.organisation_id}   # whose PC (issue 17): Hub._request_remote checks
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
        # Any firm's PC: the credential's secret decides, and then the row says which firm the
        # agent's connection acts for (``tenancy.switch`` below).
        with tenancy.across_organisations():
            machine = db.session.get(Machine, machine_id) if machine_id is not None else None
    except UNAVAILABLE as exc:  # not a verdict on the credential: the agent retries
        log.warning("agent credential not checked, database unavailable: %s", exc)
        return None, control.Refused(code="unavailable", message="The gateway cannot check credentials right "
                                     "now (its database is unavailable); try again shortly.")
    if machine is None or not token_matches(machine.credential_hash, secret):
        return None, control.Refused(code="unknown", message="Unknown machine credential.")
    if machine.revoked_at is not None:
        return None, control.Refused(code="revoked", message="This machine's credential was revoked.")
    if organisation_disabled(machine.organisation_id):
        # Not final (the agent keeps dialling): the provider may enable the firm again.
        return None, control.Refused(code="organisation_disabled", message=FIRM_DISABLED)
    tenancy.switch(machine.organisation_id)
    return machine, None


def _far_leg(hub, session: str, probe) -> None:
    """A forwarded stream's agent leg, in the session's live record: the viewer's node adds it
    to its own agent hop (which ends here), so that hop is the whole way (``quality``)."""
    hub.live.session_fields(session, far_leg_fields(probe))
