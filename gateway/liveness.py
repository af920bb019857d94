"""Dead-peer detection on stream hops: WebSocket ping, any frame as a sign of life.

An agent frozen with SIGSTOP, a laptop that went to sleep with a tab open,
a node that hangs: their TCP connections stay up, so nothing fails and
nothing arrives. Each hop of a stream (viewer, agent, node to node) is
therefore pinged every ``interval`` (RFC 6455 §5.5.2; every browser and
our own ``FramedWebSocket`` answer with a pong, §5.5.3), and a side that
sent nothing at all — no data, no pong — for ``MISSES`` intervals is dead.

Nothing is timed per frame: the pumps already count the bytes they move
and ``FramedWebSocket.control_in`` counts pings and pongs; ``Silence``
samples those counters ``SAMPLES_PER_INTERVAL`` times an interval. It is
pure (counters and clock in, verdicts out); ``Pinger`` does the I/O.

A slow peer is not a silent one. A pump blocked writing to a viewer on a
slow link reads nothing from the agent meanwhile, so the agent's pongs wait
unread: while writes to a side are backed up (``unsent``), the other side
is excused, and that side's own sign of life is its backlog shrinking
(``Watch``).
"""

from __future__ import annotations

import fcntl
import logging
import struct
import termios

import gevent

from agents.websocket import FramedWebSocket, WebSocketWantWriteError

log = logging.getLogger(__name__)

MISSES = 3
SAMPLES_PER_INTERVAL = 5
#: Unacknowledged bytes that mean a writer is backed up (far above a ping or an input event).
BACKED_UP = 4096


class Silence:
    """How long each side of a hop has been silent, from sampled counters."""

    def __init__(self, interval: float, sides, now: float):
        self.interval = float(interval)
        self.step = self.interval / SAMPLES_PER_INTERVAL
        self._count = {side: None for side in sides}
        self._heard = {side: now for side in sides}
        self._pinged = now

    def tick(self, now: float, counts: dict, excused=()) -> tuple[str | None, bool]:
        """(the first side silent for ``MISSES`` intervals or None, whether to ping now).

        ``counts``: per side, anything that changes when the side shows life;
        ``excused``: sides we may not be reading right now (see the module docstring).
        """
        dead = None
        for side, count in counts.items():
            if count != self._count[side] or side in excused:
                self._count[side], self._heard[side] = count, now
            elif dead is None and now - self._heard[side] >= MISSES * self.interval:
                dead = side
        ping = now - self._pinged >= self.interval
        if ping:
            self._pinged = now
        return dead, ping


def unsent(ws: FramedWebSocket) -> int:
    """Bytes written to ``ws`` that its peer has not acknowledged (Linux TIOCOUTQ; 0 elsewhere)."""
    sock = ws.socket
    if sock is None:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except (OSError, ValueError, AttributeError):
        return 0


class Watch:
    """The two sides of one splice, sampled for ``Silence``.

    Life on a side: what was read from it (the pump's counter), the pings
    and pongs it sent, and — when our writes to it were backed up (at least
    ``BACKED_UP`` bytes unacknowledged, as a blocked writer leaves them) — its
    backlog shrinking, which only its reading can cause. A side with a
    backlog excuses the other side: we may not be reading that one meanwhile.
    A small backlog proves nothing either way: a kernel acknowledges a ping
    for a frozen process, and a vanished peer leaves our pings queued.
    """

    def __init__(self, interval: float, sides: dict, now: float):
        self.sides = sides  # name -> FramedWebSocket
        self.silence = Silence(interval, tuple(sides), now)
        self.step = self.silence.step
        self._queued = dict.fromkeys(sides, 0)
        self._drained = dict.fromkeys(sides, 0)

    def tick(self, now: float, reads: dict) -> tuple[str | None, bool]:
        """``Silence.tick`` for ``reads`` (name -> bytes or messages read from that side)."""
        counts = {}
        for name, ws in self.sides.items():
            queued = unsent(ws)
            if self._queued[name] >= BACKED_UP and queued < self._queued[name]:
                self._drained[name] += 1
            self._queued[name] = queued
            counts[name] = (reads[name], ws.control_in, self._drained[name])
        a, b = self.sides
        excused = {side for side, other in ((a, b), (b, a)) if self._queued[other] >= BACKED_UP}
        return self.silence.tick(now, counts, excused)


class Pinger:
    """Send pings without ever blocking the caller.

    A ping waits for the socket's write lock, which a pump blocked on a peer
    that does not read may hold for long: each ping runs in its own
    greenlet, and a socket whose last ping has not gone out yet is skipped
    (its silence will tell). A greenlet is let go once its ping went out:
    a dead one kept to the next ping (~2.5 KB with its spawning stack, two
    a session) was held by every session between its pings.
    """

    def __init__(self):
        #: The pings not gone out yet, by ``id`` of their socket.
        self.inflight: dict[int, gevent.Greenlet] = {}

    def ping(self, ws: FramedWebSocket, payload_at=None) -> None:
        """Ping ``ws``; ``payload_at()``, if given, makes the payload (a round-trip probe's)."""
        key = id(ws)
        busy = self.inflight.get(key)
        if busy is not None and not busy.dead:
            return
        sending = self.inflight[key] = gevent.spawn(_ping, ws, payload_at)
        sending.rawlink(lambda done, key=key: self._sent(key, done))

    def _sent(self, key: int, done: gevent.Greenlet) -> None:
        if self.inflight.get(key) is done:
            del self.inflight[key]

    def stop(self) -> None:
        gevent.killall(list(self.inflight.values()), block=False)
        self.inflight.clear()


def _ping(ws: FramedWebSocket, payload_at=None) -> None:
    try:
        if payload_at is None:
            ws.ping()
        else:
            ws.ping_stamped(payload_at)
    except (OSError, WebSocketWantWriteError, AttributeError) as exc:
        # A closing socket: its reader sees the end. AttributeError: websockify
        # after the socket was dropped under it.
        log.debug("ping not sent: %r", exc)
