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


def add_recording(app, session: str) -> None:
    """A real (small) recording file for ``session``, and its history row saying so."""
    from gateway import recording
    from gateway.extensions import db
    from gateway.models import SessionRecord
    from gateway.recording import format as fmt

    with app.app_context():
        builder = fmt.ChunkBuilder()
        builder.add(0, b"RFB 003.008\n")
        sink = recording.storage().create(session)
        sink.write(fmt.header({"session": session}) + builder.seal() + fmt.end(10))
        sink.close()
        db.session.get(SessionRecord, session).recording = recording.RECORDED
        db.session.commit()
