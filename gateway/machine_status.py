"""What a person sees about a machine: online, offline, in use, VNC not usable.

Live facts come from Redis (the agent's hash); the machine row keeps the last
known ones (last seen, version, OS) for when the agent is gone.

When the agent is online but its VNC server cannot be used, ``state`` is
``vnc_down`` and ``vnc_state`` says why (``agents.protocol.vncstate``): an
employee reads what happened and whom to ask, never the PC's internal
address; admins also get ``vnc_detail``, the agent's exact cause and fix.

An offline PC is ``wakeable`` when another online agent shares one of its subnets
(``gateway.wake``): the tile then offers "Wake up".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from flask import current_app
from flask_babel import gettext

from agents.protocol import vncstate

from . import wake
from .i18n import noop as _n
from .live import LiveStoreError
from .models import Machine


#: The words for each state in English, marked for the catalog and translated when read
#: (``message``); ``vnc_down`` says why in the agent's words (``agents.protocol.vncstate``,
#: in the catalog through babel.cfg).
MESSAGES = {
    "online": _n("Online"),
    "in_use": _n("Online, in use"),
    "vnc_down": vncstate.UNKNOWN,
    "offline": _n("Offline: the PC is off or its Ponte agent is not running"),
    "not_enrolled": _n("Not set up yet: the Ponte agent has not been enrolled on this PC"),
    "revoked": _n("Not available: an admin revoked this PC's access"),
    "unknown": _n("Status unavailable right now"),
    # set per person by ``policy_status.for_person`` (their groups' hours count), with the hours
    "outside_hours": _n("Outside the allowed hours"),
}


def message(state: str, vnc_state: str = "") -> str:
    """What a person reads about a PC in this state, in the page's language."""
    if state == "vnc_down":
        return gettext(vncstate.employee(vnc_state))
    return gettext(MESSAGES[state])
#: States in which "Open" cannot work.
UNAVAILABLE = frozenset({"offline", "vnc_down", "not_enrolled", "revoked", "unknown", "outside_hours"})
#: How stale the stored "last seen" may get before a status read refreshes it.


@dataclass(frozen=True)
class MachineStatus:
    id: int
    name: str
    state: str
    message: str
    last_seen: float | None = None     # epoch seconds
    online_since: float | None = None
    version: str = ""
    os: str = ""
    hostname: str = ""
    vnc_detail: str = ""
    vnc_state: str = ""   # why the VNC server is not usable (vncstate.KINDS), "" when it is or unknown
    sessions: int = 0
    wakeable: bool = False  # offline, and an online neighbour can send it the magic packet

    @property
    def available(self) -> bool:
        return self.state not in UNAVAILABLE

    @property
    def online(self) -> bool:
        return self.state in ("online", "in_use", "vnc_down", "outside_hours")

    @property
    def vnc_ok(self) -> bool | None:
        if not self.online:
            return None
        return self.state != "vnc_down"

    def as_dict(self) -> dict:
        """Everything, for admins."""
        return {**asdict(self), "online": self.online, "vnc_ok": self.vnc_ok, "available": self.available}

    def public_dict(self) -> dict:
        """What an employee's portal needs about a PC granted to them."""
        return {"id": self.id, "name": self.name, "state": self.state, "message": self.message,
                "last_seen": self.last_seen, "available": self.available, "wakeable": self.wakeable}


def _epoch(value: datetime | None) -> float | None:
    return value.replace(tzinfo=timezone.utc).timestamp() if value else None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def statuses(machines: list[Machine]) -> list[MachineStatus]:
    live = current_app.extensions["ponte.live"]
    try:
        agents = live.agents(m.id for m in machines)
        in_use = {m.id: live.machine_session_count(m.id) for m in machines if m.id in agents}
    except LiveStoreError:
        return [MachineStatus(m.id, m.name, "unknown", message("unknown"), last_seen=_epoch(m.last_seen_at),
                              version=m.agent_version, os=m.agent_os, hostname=m.agent_hostname)
                for m in machines]
    asleep = [m for m in machines if m.id not in agents and m.revoked_at is None and m.agent_interfaces]
    try:
        neighbourhood = wake.Neighbourhood.read() if asleep else None
    except LiveStoreError:
        neighbourhood = None
    wakeable = {m.id for m in asleep if neighbourhood is not None and neighbourhood.wakers(m)}
    out = []
    for m in machines:
        agent = agents.get(m.id)
        if m.revoked_at is not None:
            state, agent = "revoked", None
        elif agent is None:
            state = "offline" if m.enrolled_at is not None else "not_enrolled"
        elif agent.get("vnc_ok") != "1":
            state = "vnc_down"
        elif in_use.get(m.id):
            state = "in_use"
        else:
            state = "online"
        info = agent or {}
        vnc_state = info.get("vnc_state", "") if state == "vnc_down" else ""
        out.append(MachineStatus(
            m.id, m.name, state, message(state, vnc_state),
            last_seen=_float(info.get("last_seen")) or _epoch(m.last_seen_at),
            online_since=_float(info.get("since")),
            version=info.get("version") or m.agent_version, os=info.get("os") or m.agent_os,
            hostname=info.get("hostname") or m.agent_hostname, vnc_detail=info.get("vnc_detail", ""),
            vnc_state=vnc_state, sessions=in_use.get(m.id, 0), wakeable=state == "offline" and m.id in wakeable))
    return out
