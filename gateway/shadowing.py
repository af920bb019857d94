"""Shadowing: an admin opens a live session's PC beside the person using it — watching, or with control.

A shadow session is an ordinary session of its own (its own agent stream and
VNC connection, ClientInit shared=1), opened with ``SessionTerms(kind="shadow")``.
It is the one exception to "admins too need a grant" (``models.machine_for_user``):
being asked to help on a session that is live now is the reason, and every
shadow is audited (``session_shadow``) and shown to the person being helped
(``/api/v1/sessions/<id>/notices``).

Why a connection per viewer instead of fanning one out: each viewer has its
own pixel format, encodings (JPEG quality, compression) and pace — a viewer on
a slow link asks for updates less often, and the VNC server encodes for that
pace; one stream fanned out would run at the slowest viewer's pace and format,
or the gateway would have to decode and re-encode RFB. ``bench/shadow.py``
measures what the second connection costs.
"""

from __future__ import annotations

from . import recording
from .extensions import db
from .models import Machine, User
from .terms import SessionTerms


def terms(control: bool, record: bool = False) -> SessionTerms:
    return SessionTerms(view_only=not control, kind="shadow", record=record)


def recorded(machine: Machine, watched: dict) -> bool:
    """Whether a shadow of the live session ``watched`` on ``machine`` is recorded.

    When the PC's policy records (its own and the global: the admin reaches the PC through no
    group), or the session it joins is recorded (its person's group may be why). Recorded as a
    session of its own rather than left to the watched session's file: the shadow is its own
    stream (pixel format, encodings, pace), it can go on after the person's session ends, and
    with control the admin acts on the PC; its history row plays what the admin saw, as every
    recorded row does. The admin is told, as the person is (the open answer's notice)."""
    return bool(watched.get("recording")) or recording.recording_for(machine)


def machine_to_shadow(user: User, machine_id: int) -> Machine | None:
    """The machine an admin may shadow (any not revoked), else ``None``."""
    if not getattr(user, "is_admin", False) or user.disabled:
        return None
    machine = db.session.get(Machine, machine_id)
    if machine is None or machine.revoked_at is not None:
        return None
    return machine


def watchers(rows: list[dict], session: str) -> list[dict]:
    """The other live sessions on a session's PC, as its viewer is told of them."""
    out = []
    for row in rows:
        if row.get("id") == session or row.get("state", "live") != "live":
            continue
        out.append({"user": row.get("user", ""), "kind": row.get("kind") or "user",
                    "control": row.get("view_only") not in ("1", 1, True)})
    return out
