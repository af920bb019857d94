"""One viewer session held by a node, and the states it goes through (``Hub.sessions``).

A session's ``State`` only moves forward: *pending* (the node asked the
agent for a stream) → *attached* (the stream came with its one-time token)
→ *relaying* (``pairing`` runs its relay, and then records its end) →
*done* (the hub has forgotten it). A session that fails or times out on
the way goes straight to *done*.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import gevent.event

from .relay import Relay


class State(enum.Enum):
    PENDING = "pending"    # its agent was asked for a stream; none attached yet
    ATTACHED = "attached"  # the stream attached with its one-time token; the viewer pairs it
    RELAYING = "relaying"  # the relay runs (and, once it stopped, its end is being recorded)
    DONE = "done"          # ended and recorded: the hub has forgotten it


_NEXT = {State.PENDING: State.ATTACHED, State.ATTACHED: State.RELAYING}


@dataclass(eq=False)
class SessionSlot:
    """One viewer session this node holds, from its stream request until it is recorded."""

    session: str
    machine_id: int
    token_hash: str
    state: State = State.PENDING
    #: Set once: the attached stream ``(ws, released)`` or ``AgentUnavailable``.
    result: gevent.event.AsyncResult = field(default_factory=gevent.event.AsyncResult)
    relay: Relay | None = None
    #: Why the agent could not serve the session it had already attached (e.g.
    #: its VNC server refused the password): becomes the session's end reason.
    failure: str | None = None
    #: Set with ``failure`` (``fail``): its end may wait a moment for the PC's word.
    failed: gevent.event.Event = field(default_factory=gevent.event.Event)

    def fail(self, reason: str) -> None:
        """The agent says it cannot serve this attached session, and why."""
        self.failure = reason
        self.failed.set()

    def advance(self, state: State) -> None:
        """Move to the next state (``RuntimeError`` for any other: a bug of ours)."""
        if _NEXT.get(self.state) is not state:
            raise RuntimeError(f"session {self.session}: {self.state.value} cannot become {state.value}")
        self.state = state
