"""The relay: pump WebSocket messages between a viewer and an agent stream.

Two greenlets per session, one per direction; the first to finish decides
why the session ended and the other is stopped. Each forwards cut-through
(``FramedWebSocket.pump``): one reused buffer per direction, unmasked in
place, each piece written as soon as it arrived as a fragment of the same
message — no message is held whole and nothing is copied in Python.
Backpressure is natural: a viewer that does not read blocks the write,
which stops us reading the agent, whose TCP window then stops the VNC
server. Nothing is buffered beyond one read per direction (``DOWN_BUFFER``
for the screen, ``UP_BUFFER`` for input events); each buffer starts smaller
(``cutthrough.START_SIZE``, ``UP_START``) and grows to that once a read
fills it.
"""

# Over 300 lines: one class, ``Relay``, whose two pumps, ending rules (peer close, idle and maximum
# duration, view-only input filter, shadow tee, recording tee) share its state and are read
# together; the fair-share turns and the close-reason words beside it are its own small parts.

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import gevent
import gevent.event

from agents.protocol import rfbinput
from agents.protocol.text import clean
from agents.websocket import READ_SIZE, FramedWebSocket

from .liveness import Pinger, Watch
from .sessionclock import SessionClock, end_reasons
from .terms import SessionTerms
from .quality import LinkQuality

log = logging.getLogger(__name__)

DOWN_BUFFER = READ_SIZE
UP_BUFFER = 16 * 1024
#: Input events are a few bytes each: a page holds any burst but a large paste (which grows it).
#: The screen's buffer keeps its 16 KiB start: from a page it would grow to 256 KiB at the first
#: update over a page: most sessions' screens change, most sessions' input stays small.
UP_START = 4 * 1024
PROGRESS_INTERVAL = 5.0
DEFAULT_PING_INTERVAL = 15.0

#: Close codes (RFC 6455 §7.4.1) a node gives a session's sockets, and the
#: words a viewer shows. 1012 (Service Restart) tells viewer.js to reconnect
#: at once: the balancer sends it to a node that stays.
CLOSE_RESTART = 1012
CLOSE_PEER_GONE = 1011
RESTART_REASON = "The gateway is restarting"
RESTART_MESSAGE = "The gateway is restarting; reconnecting…"
#: Why a session ended when one side fell silent (see ``liveness``).
SILENT = {"agent": "The PC stopped answering", "viewer": "The viewer stopped answering"}
VIEWER_CLOSED = "viewer closed"  # stored in English, shown translated (end_reasons)

# Fairness. A saturated pump rarely blocks (data is always there, the peer
# always takes it) and gevent switches greenlets only on blocking, so after
# each bulk read the screen pump yields: it waits for its agent socket to be
# readable, which goes through the poll, so it takes its turn after every
# socket that is ready now (not sleep(0): gevent runs re-queued callbacks
# for up to a switch interval before it polls again). One round of all
# streaming sessions then moves about ROUND_BYTES, whatever their number:
# each read is capped at ROUND_BYTES / streaming sessions, so a keystroke
# and its echo wait for at most one round per hop. A pump also yields after
# every BULK_READ bytes however they came (many small frames), so none can
# hold the loop; BULK_READ <= MIN_QUANTUM keeps every capped read a yield.
BULK_READ = 16 * 1024
# 1 MiB, not 4: measured on 2 cores with 100 streaming sessions, p99 of a
# 64-byte round trip 41 ms instead of 55 ms, for ~14 % less aggregate
# throughput (565 vs 656 MB/s, still ~5.6 MB/s a session). Interactivity
# is what a remote desktop is judged by.
ROUND_BYTES = 1 * 1024 * 1024
MIN_QUANTUM = 32 * 1024


class FairShare:
    """The screen pumps streaming now on one node, and so how much each may read.

    One per node, owned by the hub (``Hub.fair_share``): every relay of the
    node shares the round. A relay made without one (tests) is alone in its own.
    """

    def __init__(self):
        self.streaming: set = set()

    def quantum(self) -> int:
        """The largest read a screen pump may do now (see above)."""
        return max(MIN_QUANTUM, min(DOWN_BUFFER, ROUND_BYTES // max(1, len(self.streaming))))


@dataclass(frozen=True)
class RelayResult:
    reason: str
    to_viewer: int
    from_viewer: int


class Relay:
    """One paired session; ``run()`` blocks until it ends, ``stop()`` ends it."""

    def __init__(self, session: str, viewer: FramedWebSocket, agent: FramedWebSocket, *,
                 machine_id: int, user_id: int, on_progress=None,
                 ping_interval: float = DEFAULT_PING_INTERVAL, live_fields: dict | None = None,
                 fair_share: FairShare | None = None, terms: SessionTerms = SessionTerms(),
                 end_words: dict | None = None, on_notice=None, on_rtt=None, tee=None, on_ending=None):
        self.session = session
        self.viewer = viewer
        self.agent = agent
        self.machine_id = machine_id
        self.user_id = user_id
        #: The session's live record (``session:<id>``), re-asserted after a Redis restart.
        self.live_fields = live_fields or {}
        self.to_viewer = 0
        self.from_viewer = 0
        self._fair = fair_share if fair_share is not None else FairShare()
        #: Sees the screen pump's payload as it is forwarded (``recording.Recorder.tee``).
        self._tee = tee
        self._up_turn = _Turns()
        self._down_turn = _Turns()
        self._on_progress = on_progress
        self._ping_interval = ping_interval
        self._reason: str | None = None
        self._close: tuple[int, str] | None = None
        self._done = gevent.event.Event()
        self._init_terms(terms, end_words, on_notice)
        #: Round trips and bandwidth (``quality``); ``on_rtt(hop, ms)`` hears each sample.
        self.quality = LinkQuality(time.monotonic())
        self._on_rtt = on_rtt
        #: ``on_ending(reason)`` runs once the session's end is decided, before its viewer's
        #: socket closes (``ending.mark``: the viewer then asks how it ended).
        self._on_ending = on_ending

    @property
    def ended(self) -> bool:
        return self._done.is_set()

    def stop(self, reason: str, *, code: int = 1000, message: str | None = None) -> None:
        """End the session from outside (admin, revocation, drain); idempotent.

        ``reason`` is recorded; the viewer's socket closes with ``code`` and
        ``message`` (default: the reason).
        """
        if self._reason is None:
            self._close = (code, message or reason)
        self._finish(reason)

    def run(self) -> RelayResult:
        up = gevent.spawn(self._pump_up)
        down = gevent.spawn(self._pump_down)
        watch = Watch(self._ping_interval, {"agent": self.agent, "viewer": self.viewer}, time.monotonic())
        pinger = Pinger()
        self._probe_pongs()
        self._ping_both(pinger)  # a first round trip now, not one interval in
        now = time.monotonic()
        next_sample, next_progress = now + watch.step, now + PROGRESS_INTERVAL
        try:
            while not self._done.wait(max(0.0, min(next_sample, next_progress, self._clock_due())
                                          - time.monotonic())):
                now = time.monotonic()
                if self._check_clock(now):
                    break
                if now >= next_sample:
                    next_sample = now + watch.step
                    # Sampled, never per frame: the counters the pumps keep anyway.
                    dead, ping = watch.tick(now, {"agent": self.to_viewer, "viewer": self.from_viewer})
                    if dead is not None:
                        log.info("session %s: the %s fell silent", self.session, dead)
                        self._finish(SILENT[dead])
                        break
                    if ping:
                        self._ping_both(pinger)
                if now >= next_progress:
                    next_progress = now + PROGRESS_INTERVAL
                    self._progress()
        finally:
            pinger.stop()
            gevent.killall([up, down], block=True, timeout=2)
            self._fair.streaming.discard(self)
            self._up_turn.close()
            self._down_turn.close()
            code, message = self._close or self._agent_close() or (1000, self._reason)
            if self._on_ending is not None:
                try:
                    self._on_ending(self._reason or "ended")
                except Exception as exc:  # the mark is advisory; the sockets close whatever happens
                    log.warning("session %s: end not announced: %s", self.session, exc)
            self.viewer.close_with(code, _close_text(message))
            self.agent.close_with(1000, "Session ended")
        return RelayResult(self._reason or "ended", self.to_viewer, self.from_viewer)

    def _agent_close(self) -> tuple[int, str] | None:
        """A node on the stream's way restarting: the viewer reconnects at once too."""
        if self.agent.close_code == CLOSE_RESTART:
            return CLOSE_RESTART, RESTART_MESSAGE
        return None

    def _finish(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason
        self._done.set()

    def _progress(self) -> None:
        self.quality.bandwidth.sample(time.monotonic(), self.to_viewer, self.from_viewer)
        if self._on_progress is not None:
            try:
                self._on_progress(self.to_viewer, self.from_viewer)
            except Exception as exc:  # progress is advisory; never let it end a session
                log.warning("session %s: progress not recorded: %s", self.session, exc)

    # -- quality: touched once per ping and pong, never per data frame --

    def _ping_both(self, pinger: Pinger) -> None:
        for ws, probe in ((self.viewer, self.quality.viewer), (self.agent, self.quality.agent)):
            pinger.ping(ws, lambda probe=probe: probe.payload(time.monotonic()))

    def _probe_pongs(self) -> None:
        for hop, ws, probe in (("viewer", self.viewer, self.quality.viewer),
                               ("agent", self.agent, self.quality.agent)):
            ws.on_pong = lambda data, hop=hop, probe=probe: self._pong(hop, probe, data)

    def _pong(self, hop: str, probe, data: bytes) -> None:
        ms = probe.pong(data, time.monotonic())
        if ms is not None and self._on_rtt is not None:
            try:
                self._on_rtt(hop, ms)
            except Exception as exc:  # a metric is advisory; the pump that read the pong goes on
                log.warning("session %s: round trip not counted: %s", self.session, exc)

    def _pump_up(self) -> None:
        """Viewer → agent: input events, small and rare."""
        if self._reads_input:
            return self._pump_up_read()
        try:
            self.viewer.pump(self.agent, self._count_up, size=UP_BUFFER, start_size=UP_START)
            self._finish(_peer_reason("viewer", self.viewer))
        except Exception as exc:
            self._finish(_error_reason("viewer→agent", exc))

    # -- the session's terms: view-only, idle timeout, maximum duration --------------------------
    # Only a session with such terms reads its viewer's messages (``rfbinput``); every other one
    # keeps the cut-through pump above, untouched.

    def _init_terms(self, terms: SessionTerms, end_words: dict | None, on_notice) -> None:
        self.terms = terms
        self._reads_input = terms.view_only or terms.idle_timeout > 0
        self._clock = SessionClock(terms, time.monotonic()) if SessionClock.needed(terms) else None
        # Stored in English (the history translates when it shows them); the viewer reads
        # ``end_words``, the same reasons in its language, when the caller has them.
        self._end_reasons = end_reasons(terms)
        self._end_words = {**self._end_reasons, **(end_words or {})}
        self._on_notice = on_notice
        #: The session ended because of its terms (idle timeout, maximum duration).
        self.ended_by_terms = False

    def _pump_up_read(self) -> None:
        """Viewer → agent, message by message: drops what a view-only session may not send,
        and notes when the viewer last gave input. Input is small: reading it whole costs little."""
        stream = rfbinput.ViewerStream(view_only=self.terms.view_only)
        try:
            while True:
                message = self.viewer.read_message()
                if message is None:
                    self._finish(_peer_reason("viewer", self.viewer))
                    return
                events = stream.receive(message)
                if self._clock is not None and any(e.input for e in events if not isinstance(e, rfbinput.Fail)):
                    self._clock.input(time.monotonic())
                data = rfbinput.forwarded(events)
                if data:
                    self.agent.write_message(data)
                self._count_up(len(message))
                if stream.failed:
                    reason = events[-1].reason
                    log.info("session %s: %s", self.session, reason)
                    self._close = (1008, reason)  # Policy Violation: the viewer broke the protocol
                    self._finish(reason)
                    return
        except Exception as exc:
            self._finish(_error_reason("viewer→agent", exc))

    def _clock_due(self) -> float:
        return self._clock.next_check(time.monotonic()) if self._clock is not None else float("inf")

    def _check_clock(self, now: float) -> bool:
        """End the session if a limit of its terms is reached (True); publish its warnings."""
        if self._clock is None:
            return False
        verdict = self._clock.check(now)
        if verdict.end is not None:
            self.ended_by_terms = self._reason is None
            self.stop(self._end_reasons[verdict.end], message=self._end_words[verdict.end])
            return True
        if verdict.notices:
            self.live_fields.update(verdict.notices)  # re-asserted whole after a Redis restart
            if self._on_notice is not None:
                try:
                    self._on_notice(verdict.notices)
                except Exception as exc:  # a warning is advisory; never let it end a session
                    log.warning("session %s: notice not published: %s", self.session, exc)
        return False

    def _pump_down(self) -> None:
        """Agent → viewer: the screen."""
        try:
            self.agent.pump(self.viewer, self._count_down, size=DOWN_BUFFER, quantum=self._fair.quantum,
                            tee=self._tee)
            self._finish(_peer_reason("agent", self.agent))
        except Exception as exc:
            self._finish(_error_reason("agent→viewer", exc))

    def _count_up(self, n: int) -> None:
        self.from_viewer += n
        self._up_turn.take(n, self.viewer)

    def _count_down(self, n: int) -> None:
        self.to_viewer += n
        if n >= BULK_READ:
            self._fair.streaming.add(self)
        else:
            self._fair.streaming.discard(self)
        self._down_turn.take(n, self.agent)


class _Turns:
    """Yield the loop after every BULK_READ bytes a pump moved (see BULK_READ)."""

    def __init__(self):
        self.unyielded = 0
        self.watcher = None

    def take(self, n: int, source: FramedWebSocket) -> None:
        self.unyielded += n
        if self.unyielded < BULK_READ:
            return
        self.unyielded = 0
        sock = source.socket
        if sock is None:
            return
        hub = gevent.get_hub()
        if self.watcher is None:
            self.watcher = hub.loop.io(sock.fileno(), 1)  # readable: the pump's next read
        hub.wait(self.watcher)

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None


def _peer_reason(side: str, ws: FramedWebSocket) -> str:
    if ws.close_code == 1009:
        return f"{side} sent an oversized message"
    if side == "agent":
        # The close reason is the peer's text: it reaches the log, the history and the viewer.
        if ws.close_code in (CLOSE_RESTART, CLOSE_PEER_GONE) and ws.close_reason:
            return clean(ws.close_reason)  # a node forwarding the stream said why, in our words
        detail = clean(ws.close_reason) if ws.close_reason and ws.close_code not in (1000, 1006) else ""
        return f"The PC closed the connection{': ' + detail if detail else ''}"
    return VIEWER_CLOSED


def _error_reason(direction: str, exc: Exception) -> str:
    log.info("relay %s stopped: %r", direction, exc)
    return f"connection lost ({direction}: {type(exc).__name__})"


def _close_text(reason: str | None) -> str:
    return (reason or "Session ended")[:100]
