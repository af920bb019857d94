"""What a node does so that no fault loses a record: re-assert to Redis, drain, journal.

* ``reassert``: as soon as Redis answers again after a restart or an outage
  (the bus listener resubscribed, or a byte update found its session record
  gone: ``Hub.request_reassert``), the node writes back everything it holds:
  its ``node:`` record, each agent, each live session (whole, with its
  indexes), each awaited stream.
* ``drain``: SIGTERM tells viewers and agents, closes everything, writes
  every record, within ``drain_timeout`` (DESIGN.md §6).
* ``journal_all``: a forced stop journals the end of every session still
  open; the next start, or a survivor, writes them.
"""

from __future__ import annotations

import logging
import random
import time

import gevent

from agents.protocol import control

from . import sessions
from .errors import AgentUnavailable, LiveStoreError
from .relay import CLOSE_RESTART, RESTART_MESSAGE, RESTART_REASON

log = logging.getLogger("gateway.hub")

#: A draining node asks its agents to come back after a jittered pause, so
#: they do not all reach the remaining nodes in the same instant.
RECONNECT_AFTER = (0.2, 1.5)


def reassert(hub) -> None:
    """Write back, now, everything ``hub`` holds (idempotent)."""
    live, settings = hub.live, hub.settings
    me = settings.node_id
    try:
        if hub.address and not hub.draining:
            live.node_alive(me, hub.announced or settings.node_address or hub.address, settings.node_ttl)
        for channel in list(hub.channels.values()):
            if channel.fields:
                live.agent_online(channel.machine_id, me, channel.fields, ttl=settings.heartbeat * 3 + 5,
                                  since=channel.since)
        for session, relay in hub.relays.items():
            if relay.live_fields and not relay.ended:  # an ended one is being removed: no ghost
                live.session_started(session, relay.machine_id, {
                    **relay.live_fields, "bytes_to_viewer": relay.to_viewer,
                    "bytes_from_viewer": relay.from_viewer})
        for session in hub.pending:
            live.stream_waiting(session, me, hub.waiting_ttl())
    except LiveStoreError as exc:
        log.warning("re-assert to Redis incomplete: %s", exc)
        return
    log.info("re-asserted to Redis: node record, %d agent(s), %d live session(s)",
             len(hub.channels), len(hub.relays))


def drain(hub, deadline: float) -> None:
    """Stop ``hub``'s work cleanly before ``deadline`` (``time.monotonic()``).

    Agents are asked to reconnect (through the balancer, to a node that
    stays) after a short jittered pause; viewers are closed with 1012 and
    a reason viewer.js shows before it reconnects; every session's end
    is recorded (in SQL, or in the journal); then the node's record goes.
    """
    hub.draining = True
    for channel in list(hub.channels.values()):
        gevent.spawn(_send_reconnect, channel)
    for session, slot in hub.pending.items():
        hub.session_done(session)
        slot.result.set_exception(AgentUnavailable(RESTART_REASON))
    for relay in hub.relays.values():
        relay.stop(RESTART_REASON, code=CLOSE_RESTART, message=RESTART_MESSAGE)
    for forward in list(hub.forwards.values()):
        forward.stop(CLOSE_RESTART, RESTART_REASON)
    while (hub.relays or hub.pending or hub.channels or hub.forwards) and time.monotonic() < deadline:
        gevent.sleep(0.05)
    left = max(0.0, deadline - time.monotonic())
    if hub.relays:
        log.warning("drain: %d session(s) still ending at the deadline; journaling them", len(hub.relays))
        journal_all(hub, RESTART_REASON)
    elif hub.journal.path.exists() and left > 0:
        with gevent.Timeout(left, False):
            hub.journal.replay(hub.records.write_end)
    try:
        hub.live.node_gone(hub.settings.node_id)
    except LiveStoreError:
        pass  # it expires by itself


def _send_reconnect(channel) -> None:
    try:
        channel.send(control.Reconnect(after=round(random.uniform(*RECONNECT_AFTER), 2), reason=RESTART_REASON))
    except OSError:
        pass
    channel.close(CLOSE_RESTART, RESTART_REASON)


def journal_all(hub, reason: str) -> None:
    """Journal the end of every session ``hub`` still relays (a forced stop): the next
    start, or a survivor, writes them."""
    for session, relay in hub.relays.items():
        hub.journal.append(sessions.end_record(session, relay.live_fields, to_viewer=relay.to_viewer,
                                               from_viewer=relay.from_viewer, reason=reason))
