"""The relay: pump WebSocket messages between a viewer and an agent stream.

Two greenlets per session, one per direction; the first to finish decides
why the session ended and the other is stopped. Backpressure is natural: a
viewer that does not read blocks ``sendall``, which stops us reading the
agent, whose TCP window then stops the VNC server. Nothing is buffered
beyond one read (``READ_SIZE``) per direction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import gevent
import gevent.event

from agents.protocol.framing import FramedWebSocket, WebSocketWantReadError

log = logging.getLogger(__name__)

COALESCE_LIMIT = 1024 * 1024
PROGRESS_INTERVAL = 5.0


@dataclass(frozen=True)
class RelayResult:
    reason: str
    to_viewer: int
    from_viewer: int


class Relay:
    """One paired session; ``run()`` blocks until it ends, ``stop()`` ends it."""

    def __init__(self, session: str, viewer: FramedWebSocket, agent: FramedWebSocket, *,
                 machine_id: int, user_id: int, on_progress=None):
        self.session = session
        self.viewer = viewer
        self.agent = agent
        self.machine_id = machine_id
        self.user_id = user_id
        self.to_viewer = 0
        self.from_viewer = 0
        self._on_progress = on_progress
        self._reason: str | None = None
        self._done = gevent.event.Event()
        self.started = time.time()

    def stop(self, reason: str) -> None:
        """End the session from outside (admin, revocation); idempotent."""
        self._finish(reason)

    def run(self) -> RelayResult:
        up = gevent.spawn(self._pump_up)
        down = gevent.spawn(self._pump_down)
        try:
            while not self._done.wait(PROGRESS_INTERVAL):
                self._progress()
        finally:
            gevent.killall([up, down], block=True, timeout=2)
            self.viewer.close_with(1000, _close_text(self._reason))
            self.agent.close_with(1000, "Session ended")
        return RelayResult(self._reason or "ended", self.to_viewer, self.from_viewer)

    def _finish(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason
        self._done.set()

    def _progress(self) -> None:
        if self._on_progress is not None:
            try:
                self._on_progress(self.to_viewer, self.from_viewer)
            except Exception as exc:  # progress is advisory; never let it end a session
                log.warning("session %s: progress not recorded: %s", self.session, exc)

    def _pump_up(self) -> None:
        """Viewer → agent: input events, small and rare."""
        try:
            while True:
                data = self.viewer.read_message()
                if data is None:
                    self._finish(_peer_reason("viewer", self.viewer))
                    return
                self.agent.write_message(data)
                self.from_viewer += len(data)
        except Exception as exc:
            self._finish(_error_reason("viewer→agent", exc))

    def _pump_down(self) -> None:
        """Agent → viewer: the screen. Coalesce queued frames into one write."""
        agent, viewer = self.agent, self.viewer
        try:
            while True:
                data = agent.read_message()
                if data is None:
                    self._finish(_peer_reason("agent", agent))
                    return
                if agent.pending():
                    parts = [data]
                    size = len(data)
                    while agent.pending() and size < COALESCE_LIMIT:
                        try:
                            more = agent.recvmsg()
                        except WebSocketWantReadError:
                            break
                        if more is None:
                            break
                        parts.append(more)
                        size += len(more)
                    data = b"".join(parts)
                viewer.write_message(data)
                self.to_viewer += len(data)
        except Exception as exc:
            self._finish(_error_reason("agent→viewer", exc))


def _peer_reason(side: str, ws: FramedWebSocket) -> str:
    if ws.close_code == 1009:
        return f"{side} sent an oversized message"
    if side == "agent":
        detail = ws.close_reason if ws.close_reason and ws.close_code not in (1000, 1006) else ""
        return f"The PC closed the connection{': ' + detail if detail else ''}"
    return "viewer closed"


def _error_reason(direction: str, exc: Exception) -> str:
    log.info("relay %s stopped: %r", direction, exc)
    return f"connection lost ({direction}: {type(exc).__name__})"


def _close_text(reason: str | None) -> str:
    return (reason or "Session ended")[:100]
