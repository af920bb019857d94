"""Ending live sessions, and telling gateway nodes to (the node bus).

A session lives on the node that relays it; the others reach it through
Redis pub/sub. ``broadcast`` and ``end_live`` are the only places here that
build and publish node commands.
"""

from __future__ import annotations

import logging

from flask import current_app

from .. import nodebus
from .. import refs
from .. import sessions
from .. import shadowing
from ..extensions import db
from ..live import LiveStoreError
from ..models import SessionRecord, User, audit, machine_for_user
from ..reaper import row_fields

log = logging.getLogger(__name__)

ACCESS_REMOVED = "Your access to this PC was removed by an admin"


def end_session(session: str, reason: str, *, actor: str = "cli", ip: str = "") -> bool:
    """End a session on whichever node holds it; ``reason`` reaches the viewer.

    A history row still open with nothing live behind it (its node died, or
    Redis lost it) is closed here and now, unless its node is alive, which
    then closes it (``Hub.close_unheld``). False: nothing open by that id.
    """
    if refs.session_id(session) is None:
        return False
    live = current_app.extensions["ponte.live"]
    row = live.session(session)
    record = db.session.get(SessionRecord, session)
    if row is None and (record is None or record.ended_at is not None):
        return False
    reason = (reason or "").strip()[:200] or "Ended by an admin"
    if record is not None and record.ended_at is None:
        record.ended_by = actor[:64]
    machine = row.get("machine", "") if row else record.machine_name
    user = row.get("user", "") if row else record.user_name
    audit("session_end_request", actor=actor, ip=ip, target=machine, detail=f"{session} ({user}): {reason}")
    db.session.commit()
    if row is not None:
        end_live(session, row.get("node", ""), reason)
        return True
    hub = current_app.extensions["ponte.hub"]
    if hub.end_session(session, reason):
        return True
    if record.node == current_app.config["PONTE"].node_id:
        hub.close_unheld(session, reason)
        return True
    try:
        alive = bool(record.node) and record.node in live.nodes_alive([record.node])
    except LiveStoreError:
        alive = False
    if alive:
        end_live(session, record.node, reason)  # that node closes the row if it holds nothing
    else:
        sessions.finish(sessions.end_record(session, row_fields(record), to_viewer=record.bytes_to_viewer,
                                           from_viewer=record.bytes_from_viewer, reason=reason))
    return True


def end_sessions_without_access(*, user_id: int | None = None, machine_id: int | None = None) -> int:
    """End live sessions whose user may no longer open their machine; how many."""
    live = current_app.extensions["ponte.live"]
    try:
        rows = live.live_sessions()
    except LiveStoreError as exc:
        log.warning("live sessions unavailable; ending only this node's: %s", exc)
        hub = current_app.extensions["ponte.hub"]
        rows = [{"id": sid, "user_id": str(r.user_id), "machine_id": str(r.machine_id), "node": ""}
                for sid, r in list(hub.relays.items())]
    ended = 0
    for row in rows:
        if row.get("kind") == "guest":
            # A guest's access is its share link's, which dies with its creator's right to share.
            from .shares import link_backed  # ops.shares builds on this module

            if link_backed(row.get("share_id")):
                continue
            end_live(row["id"], row.get("node", ""), ACCESS_REMOVED)
            ended += 1
            continue
        try:
            uid, mid = int(row.get("user_id", "")), int(row.get("machine_id", ""))
        except ValueError:
            continue
        if (user_id is not None and uid != user_id) or (machine_id is not None and mid != machine_id):
            continue
        if uid == 0:
            continue  # a guest's (no account has id 0), seen without its live record: its link decides
        user = db.session.get(User, uid)
        if user is not None and machine_for_user(user, mid) is not None:
            continue
        if user is not None and row.get("kind") == "shadow" and shadowing.machine_to_shadow(user, mid):
            continue  # an admin's shadow needs no grant (``gateway.shadowing``)
        end_live(row["id"], row.get("node", ""), ACCESS_REMOVED)
        ended += 1
    return ended


# -- the node bus (raw command dicts until gateway.nodebus types them) ----------------------------

def end_live(session: str, node: str, reason: str) -> None:
    """End ``session`` here if this node relays it, else ask ``node`` to."""
    hub = current_app.extensions["ponte.hub"]
    if hub.end_session(session, reason):
        return
    try:
        current_app.extensions["ponte.live"].publish(node, nodebus.EndSession(session, reason))
    except LiveStoreError as exc:
        log.warning("could not ask node %s to end session %s: %s", node, session, exc)


def broadcast(command: nodebus.Command) -> None:
    """Tell every node (this one included, via Redis) to apply ``command``."""
    hub = current_app.extensions["ponte.hub"]
    try:
        current_app.extensions["ponte.live"].broadcast(command)
    except LiveStoreError:
        # Redis is down: at least act on what this process holds.
        hub.handle_command(command)
