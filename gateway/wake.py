"""Who can wake a sleeping PC, and asking them to (Wake-on-LAN, issue 11 §5).

A PC whose agent is offline can be woken when another machine's agent is
online on one of its subnets: the sleeper's interfaces come from its machine
row (kept from its last hello), the neighbours' from their live records (or
their rows, for an agent too old to say). The gateway then asks each
neighbour, over the node bus, to send the magic packet; the node that holds
the neighbour's agent passes it on as a control ``Wake`` (``Hub.handle_command``).

The person waits for the PC's agent to say hello; after ``wake_timeout``
seconds (a setting, default 120) the page says it did not wake.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from agents.protocol import wol

from . import nodebus
from .extensions import db
from .live import LiveStoreError
from .models import Machine, audit, stored_interfaces
from .ops.sessions import broadcast

#: Neighbours asked to send the packet at most, for one wake.
MAX_SENDERS = 3


@dataclass(frozen=True)
class Waker:
    """An online agent that can reach the sleeper's card ``mac`` with a broadcast to ``broadcast``."""

    machine_id: int
    name: str
    mac: str
    broadcast: str

    def as_dict(self) -> dict:
        return {"machine_id": self.machine_id, "name": self.name, "mac": self.mac, "broadcast": self.broadcast}


class Neighbourhood:
    """The online agents and their interfaces, read once (per status page or wake request)."""

    def __init__(self, online: dict[int, tuple[str, list[wol.Interface]]]):
        #: machine id -> (name, interfaces), online agents only
        self.online = online

    @classmethod
    def read(cls) -> Neighbourhood:
        """Online agents with interfaces, from SQL (candidates) and Redis (who is online now).

        Raises ``LiveStoreError`` when Redis does not answer.
        """
        rows = db.session.execute(select(Machine.id, Machine.name, Machine.agent_interfaces).where(
            Machine.revoked_at.is_(None), Machine.enrolled_at.is_not(None), Machine.agent_interfaces != "")).all()
        agents = current_app.extensions["ponte.live"].agents(row.id for row in rows)
        online = {}
        for row in rows:
            agent = agents.get(row.id)
            if agent is not None:
                online[row.id] = (row.name, stored_interfaces(agent.get("interfaces")) or
                                  stored_interfaces(row.agent_interfaces))
        return cls(online)

    def wakers(self, machine: Machine) -> list[Waker]:
        """The online agents (other than the machine's own) that share a subnet with ``machine``."""
        sleeper = stored_interfaces(machine.agent_interfaces)
        if not sleeper:
            return []
        out = []
        for mid, (name, interfaces) in sorted(self.online.items(), key=lambda item: item[1][0]):
            if mid == machine.id:
                continue
            card = wol.shared_subnet(sleeper, interfaces)
            if card is not None:
                out.append(Waker(mid, name, card.mac, card.broadcast))
        return out


def wakers_of(machine: Machine) -> list[Waker]:
    """Who can wake ``machine`` now; [] when nobody can or Redis does not answer."""
    try:
        return Neighbourhood.read().wakers(machine)
    except LiveStoreError:
        return []


def wake(machine: Machine, wakers: list[Waker], *, actor: str, ip: str = "") -> list[Waker]:
    """Ask up to ``MAX_SENDERS`` of ``wakers`` to send the magic packet for ``machine``; audited.

    Returns the neighbours asked. Every node hears the request and the one holding the
    neighbour's agent passes it on (with Redis down, only this node's agents are reached).
    """
    asked = wakers[:MAX_SENDERS]
    audit("machine_wake", actor=actor, ip=ip, target=machine.name,
          detail="sent by " + ", ".join(f"{w.name} to {w.broadcast} for {w.mac}" for w in asked))
    db.session.commit()
    for waker in asked:
        broadcast(nodebus.Wake(waker.machine_id, waker.mac, waker.broadcast))
    return asked
