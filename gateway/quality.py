"""How a session feels: round trips on both hops, bandwidth each way, and the viewer's own figures.

Pure (clock values in, figures out); the relay does the I/O. Nothing here
runs per data frame: a probe is touched once per ping and once per pong
(every ``stream_ping_interval``, 15 s by default), the bandwidth once per
progress tick (``relay.PROGRESS_INTERVAL``, 5 s), from the byte counters the
pumps keep anyway.

Round trips (RFC 6455 §5.5.2-3): the relay already pings both sides of a
session for dead-peer detection (``liveness``); each ping carries a probe's
payload (``PAYLOAD_PREFIX`` and a sequence number), and the pong that
echoes it gives one sample, timed from the moment the ping got the socket's
write lock. Bytes already queued in the kernel ahead of the ping are part
of the sample: a screen update stuck in front of a keystroke's echo is
latency the person feels. A pong we did not ask for (or one too late,
``MAX_OUTSTANDING`` pings on) is ignored.

When a stream crosses nodes (``peering``), the node that received the
agent's stream answers our pings itself: from the viewer's node the agent
hop ends at that node. The forwarding node times its own leg to the agent
the same way and writes it to the session's live record (``far_leg_fields``);
the agent hop reported (``agent_whole_way``, ``from_live``, the history) is
the sum of the two legs, so it is the whole way from the viewer's node.

The grade the viewer shows (``grade``) uses the round trip viewer → gateway
→ agent, the sum of the two hops' latest samples:

======  =================
good    below 100 ms
fair    100 ms to 250 ms
poor    250 ms and above
======  =================

Frames per second do not grade: a still screen sends none, rightly.
"""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass

from .errors import ReportRefused

PAYLOAD_PREFIX = b"ponte-rtt"
MAX_OUTSTANDING = 4
#: Samples a probe keeps for its median: about 4 h of pings at the default 15 s.
SAMPLES_KEPT = 1024
#: The grade's thresholds (ms, round trip viewer → gateway → agent); see the module docstring.
GOOD_BELOW_MS = 100
FAIR_BELOW_MS = 250
GRADES = ("good", "fair", "poor")

#: Encodings a viewer may report: noVNC's ``encodingName`` for the rects it decodes.
ENCODINGS = frozenset({"Raw", "CopyRect", "RRE", "Hextile", "Zlib", "Tight", "ZRLE", "TightPNG",
                       "JPEG", "H.264"})
#: Bounds of a viewer's report (``parse_viewer_report``).
MAX_UPDATES = 100_000          # FramebufferUpdates in one report
MIN_SECONDS, MAX_SECONDS = 1.0, 600.0
#: Shortest window a bandwidth rate is taken over (seconds).
MIN_WINDOW = 1.0


class RttProbe:
    """Round-trip samples of one hop, from the pings we send and the pongs that echo them."""

    def __init__(self, keep: int = SAMPLES_KEPT):
        self._seq = 0
        self._outstanding: dict[bytes, float] = {}
        self.samples = Samples(keep)
        self.last_ms: float | None = None
        #: Samples taken so far (``samples`` keeps only the last ``keep``): how a reader sees a new one.
        self.count = 0

    def payload(self, now: float) -> bytes:
        """The payload of a ping sent at ``now`` (monotonic seconds)."""
        self._seq += 1
        data = PAYLOAD_PREFIX + struct.pack("!Q", self._seq)
        self._outstanding[data] = now
        while len(self._outstanding) > MAX_OUTSTANDING:
            self._outstanding.pop(next(iter(self._outstanding)))
        return data

    def pong(self, data: bytes, now: float) -> float | None:
        """The round trip in ms if ``data`` echoes one of our pings, else ``None``."""
        sent = self._outstanding.pop(bytes(data), None)
        if sent is None:
            return None
        ms = max(0.0, (now - sent) * 1000.0)
        self.samples.append(ms)
        self.last_ms = ms
        self.count += 1
        return ms

    def median_ms(self) -> float | None:
        return median(self.samples)


class Samples:
    """The last ``keep`` values, oldest first, 8 bytes each in one array.

    A ``deque`` of floats cost 27-33 bytes a value (the float objects, measured):
    with two probes a session, 55-68 KB a session once full, about 4 h in.
    """

    def __init__(self, keep: int):
        self._keep = keep
        self._values = array("d")
        self._oldest = 0  # once full, where the oldest value is (and the next one goes)

    def append(self, value: float) -> None:
        if len(self._values) < self._keep:
            self._values.append(value)
            return
        self._values[self._oldest] = value
        self._oldest = (self._oldest + 1) % self._keep

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self):
        values, oldest = self._values, self._oldest
        return iter(values[oldest:] + values[:oldest])


class Bandwidth:
    """kbit/s each way from the relay's byte counters, sampled at its progress ticks."""

    def __init__(self, now: float, to_viewer: int = 0, from_viewer: int = 0):
        self._start = self._at = now
        self._start_bytes = self._bytes = (to_viewer, from_viewer)
        self.last = (0, 0)
        self.peak = (0, 0)

    def sample(self, now: float, to_viewer: int, from_viewer: int) -> None:
        """The counters at ``now``; a window under ``MIN_WINDOW`` (the last one, at the end)
        counts for the mean only: a burst over a few ms is no rate."""
        elapsed = now - self._at
        if elapsed <= 0:
            return
        if elapsed < MIN_WINDOW:
            self._at, self._bytes = now, (to_viewer, from_viewer)
            return
        rates = tuple(_kbps(b - a, elapsed) for a, b in zip(self._bytes, (to_viewer, from_viewer)))
        self.last = rates
        self.peak = tuple(max(p, r) for p, r in zip(self.peak, rates))
        self._at, self._bytes = now, (to_viewer, from_viewer)

    def mean(self) -> tuple[int, int]:
        elapsed = self._at - self._start
        if elapsed <= 0:
            return 0, 0
        return tuple(_kbps(b - a, elapsed) for a, b in zip(self._start_bytes, self._bytes))


class LinkQuality:
    """One session's figures as its relay measures them: two probes and the bandwidth."""

    def __init__(self, now: float):
        self.viewer = RttProbe()
        self.agent = RttProbe()
        self.bandwidth = Bandwidth(now)

    def live_fields(self) -> dict:
        """For the live ``session:<id>`` hash (strings; an unknown figure is an empty string)."""
        last, peak = self.bandwidth.last, self.bandwidth.peak
        return {"rtt_viewer_ms": _ms(self.viewer.last_ms), "rtt_agent_ms": _ms(self.agent.last_ms),
                "rtt_viewer_p50_ms": _ms(self.viewer.median_ms()), "rtt_agent_p50_ms": _ms(self.agent.median_ms()),
                "kbps_to_viewer": last[0], "kbps_from_viewer": last[1],
                "kbps_to_viewer_peak": peak[0], "kbps_from_viewer_peak": peak[1]}

    def summary(self) -> SessionQuality:
        """The figures the history keeps once the session ends."""
        mean, peak = self.bandwidth.mean(), self.bandwidth.peak
        return SessionQuality(rtt_viewer_ms=_int_ms(self.viewer.median_ms()),
                              rtt_agent_ms=_int_ms(self.agent.median_ms()),
                              kbps_to_viewer_mean=mean[0], kbps_to_viewer_peak=peak[0],
                              kbps_from_viewer_mean=mean[1], kbps_from_viewer_peak=peak[1])


@dataclass(frozen=True)
class SessionQuality:
    """A session's quality as the history keeps it (``None``: never measured)."""

    rtt_viewer_ms: int | None = None      # median of the session's samples
    rtt_agent_ms: int | None = None
    fps: float | None = None              # mean FramebufferUpdates a second, as the viewer counted them
    encoding: str = ""                    # the encoding of most rects the viewer decoded, last reported
    kbps_to_viewer_mean: int | None = None
    kbps_to_viewer_peak: int | None = None
    kbps_from_viewer_mean: int | None = None
    kbps_from_viewer_peak: int | None = None


def far_leg_fields(probe: RttProbe) -> dict:
    """A forwarding node's leg to the agent, for the session's live record."""
    return {"rtt_agent_far_ms": _ms(probe.last_ms), "rtt_agent_far_p50_ms": _ms(probe.median_ms())}


def agent_whole_way(near_ms: float | None, live: dict, *, median: bool = False) -> float | None:
    """The agent hop from the viewer's node: ``near_ms`` (to the agent, or to the node that
    forwards its stream) plus that node's leg to the agent, when the record has one."""
    far = _number(live.get("rtt_agent_far_p50_ms" if median else "rtt_agent_far_ms"))
    if near_ms is None or far is None:
        return near_ms
    return near_ms + far


def from_live(live: dict) -> SessionQuality:
    """What a live record (``session:<id>``, strings) says of a session's quality: for a session
    closed by someone other than its relay (a reaper, a node's leftovers), which knows no more."""
    def whole(name):
        number = _number(live.get(name))
        return None if number is None else int(round(number))

    agent = agent_whole_way(_number(live.get("rtt_agent_p50_ms")), live, median=True)
    return SessionQuality(rtt_viewer_ms=whole("rtt_viewer_p50_ms"), rtt_agent_ms=_int_ms(agent),
                          kbps_to_viewer_peak=whole("kbps_to_viewer_peak"),
                          kbps_from_viewer_peak=whole("kbps_from_viewer_peak"), **viewer_figures(live))


def viewer_figures(live: dict) -> dict:
    """``fps`` and ``encoding`` from a live record (``report_fields`` wrote them), for the history."""
    total, seconds = _number(live.get("fbu_total")), _number(live.get("fbu_seconds"))
    fps = round(total / seconds, 1) if total is not None and seconds else None
    encoding = live.get("encoding", "")
    return {"fps": fps, "encoding": encoding if encoding in ENCODINGS else ""}


def grade(rtt_viewer_ms: float | None, rtt_agent_ms: float | None) -> str | None:
    """``good`` / ``fair`` / ``poor`` for the round trip through both hops; ``None`` until both are known."""
    if rtt_viewer_ms is None or rtt_agent_ms is None:
        return None
    total = rtt_viewer_ms + rtt_agent_ms
    return "good" if total < GOOD_BELOW_MS else "fair" if total < FAIR_BELOW_MS else "poor"


@dataclass(frozen=True)
class ViewerReport:
    """What a viewer counted over ``seconds``: FramebufferUpdates, and the encoding of most rects."""

    updates: int
    seconds: float
    encoding: str

    @property
    def fps(self) -> float:
        return round(self.updates / self.seconds, 1)


def parse_viewer_report(data) -> ViewerReport:
    """A viewer's report from its JSON body; ``ReportRefused`` for anything out of bounds."""
    if not isinstance(data, dict):
        raise ReportRefused("body")
    updates, seconds, encoding = data.get("updates"), data.get("seconds"), data.get("encoding", "")
    if isinstance(updates, bool) or not isinstance(updates, int) or not 0 <= updates <= MAX_UPDATES:
        raise ReportRefused("updates")
    if (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds)
            or not MIN_SECONDS <= seconds <= MAX_SECONDS):
        raise ReportRefused("seconds")
    if encoding != "" and encoding not in ENCODINGS:
        raise ReportRefused("encoding")
    return ViewerReport(updates, float(seconds), encoding)


def median(values) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _kbps(nbytes: int, seconds: float) -> int:
    return int(round(max(0, nbytes) * 8 / 1000 / seconds))


def _ms(value: float | None) -> str | float:
    return "" if value is None else round(value, 1)


def _int_ms(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
