"""What a person sees about a machine: online, offline, in use, VNC not answering."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flask import current_app

from .live import LiveStoreError
from .models import Machine

MESSAGES = {
    "online": "Online",
    "in_use": "Online, in use",
    "vnc_down": "Online, but its VNC server is not answering",
    "offline": "Offline: the PC is off or its Ponte agent is not running",
    "unknown": "Status unavailable right now",
}


@dataclass(frozen=True)
class MachineStatus:
    id: int
    name: str
    state: str
    message: str
    last_seen: float | None = None
    version: str = ""
    os: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def statuses(machines: list[Machine]) -> list[MachineStatus]:
    live = current_app.extensions["ponte.live"]
    try:
        agents = live.agents(m.id for m in machines)
        in_use = {m.id: live.machine_session_count(m.id) for m in machines if m.id in agents}
    except LiveStoreError:
        return [MachineStatus(m.id, m.name, "unknown", MESSAGES["unknown"]) for m in machines]
    out = []
    for m in machines:
        agent = agents.get(m.id)
        if agent is None or m.revoked_at is not None:
            state = "offline"
        elif agent.get("vnc_ok") != "1":
            state = "vnc_down"
        elif in_use.get(m.id):
            state = "in_use"
        else:
            state = "online"
        out.append(MachineStatus(
            m.id, m.name, state, MESSAGES[state],
            last_seen=float(agent["last_seen"]) if agent and agent.get("last_seen") else None,
            version=(agent or {}).get("version", ""), os=(agent or {}).get("os", "")))
    return out
