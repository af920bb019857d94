"""Sessions as the relay leaves them, made directly in SQL and Redis (no agent, no viewer)."""

from __future__ import annotations

import hashlib
import time


def session_ref(label: str) -> str:
    """A session id of the real shape (32 hex digits, as ``sessions.issue`` makes), named by ``label``."""
    return hashlib.md5(label.encode()).hexdigest()


def add_live_session(app, session: str, user, machine, node: str = "node-elsewhere") -> None:
    """A session as the relay leaves it: a history row and the live Redis record."""
    from gateway.extensions import db
    from gateway.models import SessionRecord

    with app.app_context():
        db.session.add(SessionRecord(id=session, user_id=user.id, user_name=user.name, machine_id=machine.id,
                                     machine_name=machine.name, client_ip="198.51.100.7", node=node))
        db.session.commit()
        app.extensions["ponte.live"].session_started(session, machine.id, {
            "state": "live", "user": user.name, "user_id": user.id, "machine": machine.name,
            "machine_id": machine.id, "client_ip": "198.51.100.7", "node": node, "started": time.time() - 75,
            "bytes_to_viewer": 123456, "bytes_from_viewer": 789})
