"""Run one viewer session: authorise it, pair the viewer with its agent stream, relay, record.

``ws.view`` calls ``authorise`` (in the request context: the login session,
the Origin, the one-time ticket, the grant) and then ``Pairing.run``, which
drives the session through the hub's lifecycle (``hub.State``):

1. ask the machine's agent for a stream (*pending*); no agent: HTTP 409,
   before the viewer's socket is taken;
2. take the viewer's socket and write the history row (no row, no session:
   1011 to the viewer) and the live record while the agent dials its stream,
   so neither waits for the other (issue 16: the row's commit took longer
   than the dial);
3. wait up to ``stream_timeout`` for the stream to attach (*attached*) —
   the pairing race: a stream that attaches in the very instant the wait
   gives up is released, not leaked; a stream that never comes ends the
   session's row with the reason the viewer is given;
   then relay (*relaying*) until either side closes, an admin ends it, or a
   side falls silent;
4. record the end (in SQL, or in the node's journal) while the hub still
   holds the session, so no reaper takes it for a leftover (*done*);
   count it in the metrics.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import gevent
from flask import abort, current_app, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from agents.websocket import FramedWebSocket

from . import end_reasons, ending, handshake, sessions, shadowing, tenancy
from .scoping import acting_organisation
from .errors import AgentUnavailable, LiveStoreError
from .guests import TICKET_PREFIX as GUEST_TICKET_PREFIX
from .extensions import db
from .hub import Hub
from .sessionclock import end_reasons as term_reasons
from .slots import SessionSlot
from .terms import SessionTerms
from .recording import session as recording_session
from .models import Machine, User, machine_for_user
from .quality import SessionQuality, agent_whole_way, viewer_figures
from .relay import CLOSE_RESTART, RESTART_MESSAGE, RESTART_REASON, VIEWER_CLOSED, Relay, RelayResult

log = logging.getLogger("gateway.ws")

#: Close codes (RFC 6455 §7.4: 4000-4999 are ours) of a viewer socket that got no session.
CLOSE_UNAVAILABLE = 4004
CLOSE_UNRECORDED = 1011
# An RFB refusal is the version (12 bytes), a security result and a sentence: far under this,
# and any session that showed a screen sent more (ServerInit and a first update).
REFUSAL_BYTES = 1024
LATE_FAILURE_WAIT = 0.5  # seconds the end of such a session waits for the PC's word


@dataclass(frozen=True)
class Viewing:
    """An authorised request to view a machine in a session."""

    session: str
    user: User
    machine: Machine
    client_ip: str
    #: Their ids, read while the rows are loaded: the relay runs for hours with no
    #: database session, where the rows' attributes can no longer be read.
    user_id: int
    machine_id: int
    #: What the session may do and for how long (the ticket's, decided when it was opened).
    terms: SessionTerms = SessionTerms()
    #: The PC's firm: only that firm's agent of the PC may serve the session (``Hub.request_stream``).
    organisation_id: int = tenancy.DEFAULT


def authorise(hs: handshake.Handshake) -> Viewing:
    """The session this request may view, or an HTTP refusal (``abort``), counted by cause.

    The ticket comes as the subprotocol ``ponte.ticket.<ticket>`` (never in a
    URL a proxy logs). ``?ticket=`` still works for clients older than that
    (``agents forward`` installed on people's PCs upgrades on its own
    schedule): it is one-time, 30 s and bound to the cookie's user, and a
    proxy logs a WebSocket request when it ends, long after its ticket was used.
    """
    if not _origin_allowed():
        refuse(403, "origin", "This page's origin may not open sessions here.")
    if hs.ticket.startswith(GUEST_TICKET_PREFIX):
        from .guest_viewing import authorise_guest  # it builds on this module's Viewing and refuse

        return authorise_guest(hs.ticket[len(GUEST_TICKET_PREFIX):])
    if not current_user.is_authenticated:
        refuse(401, "anonymous", "Log in first.")
    ticket = sessions.live().consume_ticket(hs.ticket or request.args.get("ticket", ""))
    if ticket is None:
        refuse(403, "ticket", "This ticket is unknown, used or expired. Open the PC again from the portal.")
    if ticket.user_id != current_user.id or ticket.organisation_id != acting_organisation():
        refuse(403, "ticket_owner", "This ticket belongs to someone else.")
    machine = machine_for_user(current_user, ticket.machine_id)
    if machine is None and ticket.terms.kind == "shadow":  # an admin helping, audited (``shadowing``)
        machine = shadowing.machine_to_shadow(current_user, ticket.machine_id)
    if machine is None:
        refuse(403, "grant", "You may not open this PC.")
    user = current_user._get_current_object()
    return Viewing(ticket.session, user, machine, request.remote_addr or "", user.id, machine.id, ticket.terms,
                   machine.organisation_id)


def refuse(status: int, why: str, message: str):
    """Answer the viewer's request with HTTP ``status`` (its socket not taken yet)."""
    current_app.extensions["ponte.metrics"].session_refused.labels(why).inc()
    log.info("viewer socket refused (%s) from %s: %s", why, request.remote_addr, message)
    abort(status, message)


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


class Pairing:
    """Runs authorised sessions on this node: one object per node, ``run`` once per session."""

    def __init__(self, hub: Hub, settings, metrics):
        self.hub = hub
        self.settings = settings
        self.metrics = metrics

    def run(self, viewing: Viewing, accept: Callable[[], FramedWebSocket]) -> None:
        """Run ``viewing`` to its end; ``accept()`` takes the viewer's socket (once the agent was asked)."""
        # The viewer's words for the ends its terms may bring, in its language, while its request
        # still reads the user's row (see _relay). Per session: this object serves every session.
        end_words = {why: end_reasons.shown(text) for why, text in term_reasons(viewing.terms).items()}
        try:
            slot = self.hub.request_stream(viewing.machine_id, viewing.session, viewing.organisation_id)
        except AgentUnavailable:
            refuse(409, "offline", "The PC is offline: its Ponte agent is not connected.")
        viewer = accept()
        live_fields = self._start_record(viewing, slot, viewer)
        if live_fields is None:
            return
        stream = self._wait_for_stream(slot, viewer, viewing, live_fields)
        if stream is None:
            return
        agent_ws, released = stream
        self.metrics.sessions_started.inc()
        db.session.remove()  # no database connection held for the hours a session lasts
        result = self._relay(viewing, slot, viewer, agent_ws, released, live_fields, end_words)
        self.metrics.session_ended(result.reason, result.to_viewer, result.from_viewer)
        log.info("session %s ended: %s (%d bytes to viewer, %d from)", viewing.session,
                 result.reason, result.to_viewer, result.from_viewer)

    def _wait_for_stream(self, slot: SessionSlot, viewer: FramedWebSocket, viewing: Viewing, live_fields: dict):
        """The attached stream ``(ws, released)``, or ``None`` with the viewer told why and the
        session's row (written while the agent dialled) ended with that reason."""
        try:
            return slot.result.get(timeout=self.settings.stream_timeout)
        except gevent.Timeout:
            self._release_late_stream(slot, "The viewer gave up waiting")
            code, why, told, ended_by = CLOSE_UNAVAILABLE, "The PC did not answer in time", None, ""
        except AgentUnavailable as exc:
            if self.hub.draining:
                code, why, told, ended_by = CLOSE_RESTART, RESTART_REASON, RESTART_MESSAGE, ""
            else:
                # Refused by the PC itself (e.g. its VNC password): reconnecting would not help.
                code, why, told = CLOSE_UNAVAILABLE, f"The PC could not start the session: {exc}", None
                ended_by = sessions.ENDED_BY_PC
        ending.mark(self.hub.live, viewing.session, why, ended_by)
        viewer.close_with(code, told or why)
        # The hub has forgotten the session by now (whoever failed it, so no stream attaches
        # late); its row is open and ends here, or in the journal (a node stopping before that
        # leaves it to the reaper, as any session of a node that stopped).
        try:
            sessions.finish(sessions.end_record(viewing.session, live_fields, to_viewer=0, from_viewer=0,
                                                reason=why, ended_by=ended_by))
        finally:
            db.session.remove()
        return None

    def _release_late_stream(self, slot: SessionSlot, reason: str) -> None:
        """Forget a pending session; a stream that attached in the same instant is closed and
        its greenlet released (no yield between the check and the forgetting, so this is exact)."""
        self.hub.session_done(slot.session)
        if slot.result.ready() and slot.result.successful():
            late_ws, late_released = slot.result.get()
            late_ws.close_with(1000, reason)
            late_released.set()

    def _start_record(self, viewing: Viewing, slot: SessionSlot, viewer) -> dict | None:
        """The session's live fields once its history row is written; ``None`` if SQL refused it."""
        try:
            return sessions.started(viewing.session, viewing.user, viewing.machine, viewing.client_ip,
                                    self.settings.node_id, viewing.terms)
        except SQLAlchemyError as exc:
            # No history row, no session: every session that runs is on record.
            log.warning("session %s not started: SQL did not take its record: %s", viewing.session, exc)
            self._release_late_stream(slot, "Session not started")  # SQL may have yielded (PostgreSQL)
            viewer.close_with(CLOSE_UNRECORDED, "The gateway cannot record sessions right now. "
                              "Try again in a moment.")
            db.session.remove()
            return None

    def _relay(self, viewing: Viewing, slot: SessionSlot, viewer, agent_ws, released,
               live_fields: dict, end_words: dict) -> RelayResult:
        """Relay until the session ends, then record its end (and only then forget it)."""
        hub, session = self.hub, viewing.session
        live = hub.live

        def progress(up: int, down: int) -> None:
            if not live.session_bytes(session, up, down, extra=relay.quality.live_fields()):
                hub.request_reassert()  # Redis lost our records: write them back whole

        recorder = recording_session.begin(viewing, self.settings, live, live_fields)
        relay = Relay(session, viewer, agent_ws, machine_id=viewing.machine_id, user_id=viewing.user_id,
                      on_progress=progress, ping_interval=self.settings.stream_ping_interval,
                      live_fields=live_fields, fair_share=hub.fair_share, terms=viewing.terms,
                      end_words=end_words, on_notice=lambda fields: live.session_notices(session, fields),
                      on_rtt=self._count_rtt, tee=recorder.tee if recorder is not None else None,
                      on_ending=lambda reason: ending.mark(live, session, _end_reason(reason, slot.failure),
                                                           _ended_by(slot.failure, relay)))
        hub.relay_started(slot, relay)
        try:
            try:
                result = relay.run()
            finally:
                released.set()
                recording_session.end(recorder, session)
            failure = _late_failure(slot, result)
            result = dataclasses.replace(result, reason=_end_reason(result.reason, failure))
            # Recorded while the hub still holds the session: a reaper never takes it for a leftover.
            sessions.finish(sessions.end_record(
                session, live_fields, to_viewer=result.to_viewer, from_viewer=result.from_viewer,
                reason=result.reason, ended_by=_ended_by(failure, relay),
                quality=_session_quality(live, session, relay, result)))
        finally:
            hub.session_done(session)
            db.session.remove()
        return result

    def _count_rtt(self, hop: str, ms: float) -> None:
        self.metrics.hop_rtt.labels(hop).observe(ms / 1000.0)


def _late_failure(slot: SessionSlot, result: RelayResult) -> str | None:
    """The PC's refusal, if it sent one: waited for briefly when the viewer left after a refusal.

    The agent tells the gateway why it refuses on its control channel and the viewer on the
    stream (an RFB security failure); the viewer then closes at once. Two connections, maybe
    to two nodes: the viewer's close can come first, and the record would say "viewer closed".
    A viewer that left having had no more than a refusal's bytes gets its end written a moment
    later, with the PC's word if it came meanwhile.
    """
    if (slot.failure is None and result.reason == VIEWER_CLOSED
            and result.to_viewer <= REFUSAL_BYTES):
        slot.failed.wait(LATE_FAILURE_WAIT)
    return slot.failure


def _end_reason(reason: str, failure: str | None) -> str:
    """The session's recorded end: the PC's own refusal, when it sent one, says more."""
    return reason if failure is None else f"The PC could not start the session: {failure}"


def _ended_by(failure, relay: Relay) -> str:
    """Who ended the session, when it was no person and no lost link (reconnecting would not help)."""
    if failure is not None:
        return sessions.ENDED_BY_PC
    if relay.ended_by_terms:
        return sessions.ENDED_BY_TERMS
    return ""


def _session_quality(live, session: str, relay: Relay, result: RelayResult) -> SessionQuality:
    """The relay's figures for the history, with the viewer's (its reports may have reached any node)."""
    relay.quality.bandwidth.sample(time.monotonic(), result.to_viewer, result.from_viewer)
    measured = relay.quality.summary()
    try:
        record = live.session(session) or {}
    except LiveStoreError as exc:
        log.info("session %s: the viewer's figures are not in the history: %s", session, exc)
        record = {}
    # a stream forwarded by another node: its leg to the agent, which our pings do not reach
    agent = agent_whole_way(measured.rtt_agent_ms, record, median=True)
    return dataclasses.replace(measured, rtt_agent_ms=None if agent is None else int(round(agent)),
                               **viewer_figures(record))
