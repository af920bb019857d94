"""Round-trip sampling, bandwidth and the viewer's report, pure: a fake clock, no sockets."""

from __future__ import annotations

import math
import tracemalloc

import pytest

from gateway import quality
from gateway.errors import ReportRefused
from gateway.quality import Bandwidth, LinkQuality, RttProbe, grade, parse_viewer_report


def test_a_pong_echoing_our_ping_is_one_sample_timed_by_the_clock():
    probe = RttProbe()
    payload = probe.payload(100.0)
    assert payload.startswith(quality.PAYLOAD_PREFIX)
    assert probe.pong(payload, 100.042) == pytest.approx(42.0)
    assert probe.last_ms == pytest.approx(42.0)
    assert list(probe.samples) == [pytest.approx(42.0)]


def test_a_probe_keeps_its_last_samples_in_order_at_8_bytes_each():
    probe = RttProbe(keep=1024)
    tracemalloc.start()
    try:
        for i in range(1500):
            probe.pong(probe.payload(float(i)), i + 0.001 * (i % 7))
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(probe.samples) == 1024
    assert list(probe.samples) == [pytest.approx(i % 7) for i in range(1500 - 1024, 1500)]
    assert probe.median_ms() == pytest.approx(3.0)
    # A deque of floats held ~28 KB here: two probes a session, every session, after ~4 h.
    assert held < 12 * 1024


def test_each_ping_has_its_own_payload_and_a_pong_counts_once():
    probe = RttProbe()
    first, second = probe.payload(0.0), probe.payload(1.0)
    assert first != second
    assert probe.pong(second, 1.010) == pytest.approx(10.0)
    assert probe.pong(second, 1.500) is None  # a duplicate pong
    assert probe.pong(first, 2.0) == pytest.approx(2000.0)  # late, but still ours
    assert len(probe.samples) == 2


def test_pongs_we_did_not_ask_for_are_ignored():
    probe = RttProbe()
    probe.payload(0.0)
    for junk in (b"", b"hello", quality.PAYLOAD_PREFIX + b"\0" * 8, b"x" * 125):
        assert probe.pong(junk, 0.5) is None
    assert probe.last_ms is None and probe.median_ms() is None


def test_only_the_latest_pings_are_awaited():
    probe = RttProbe()
    payloads = [probe.payload(float(n)) for n in range(quality.MAX_OUTSTANDING + 2)]
    assert probe.pong(payloads[0], 10.0) is None  # given up: a peer that never answered it
    assert probe.pong(payloads[-1], 10.0) is not None


def test_median_over_a_bounded_window():
    probe = RttProbe(keep=3)
    for at, rtt in enumerate([0.500, 0.010, 0.020, 0.030]):
        probe.pong(probe.payload(float(at)), at + rtt)
    assert probe.median_ms() == pytest.approx(20.0)  # the 500 ms one fell out of the window
    assert quality.median([1.0, 3.0]) == 2.0
    assert quality.median([]) is None


def test_bandwidth_last_peak_and_mean_from_byte_counters():
    bw = Bandwidth(0.0)
    bw.sample(5.0, 625_000, 6_250)        # 1000 kbit/s down, 10 up
    bw.sample(10.0, 625_000 + 3_125_000, 12_500)  # 5000 down, 10 up
    bw.sample(15.0, 625_000 + 3_125_000, 12_500)  # idle
    assert bw.last == (0, 0)
    assert bw.peak == (5000, 10)
    assert bw.mean() == (2000, 7)  # 3.75 MB in 15 s; 12.5 kB in 15 s = 6.7 kbit/s


def test_a_short_last_window_counts_for_the_mean_not_the_peak():
    bw = Bandwidth(0.0)
    bw.sample(5.0, 625_000, 0)
    bw.sample(5.1, 625_000 + 125_000, 0)  # 10 Mbit/s over 0.1 s: no rate
    assert bw.peak == (1000, 0)
    assert bw.mean() == (1176, 0)  # 750 kB over 5.1 s


def test_link_quality_fields_and_summary():
    link = LinkQuality(0.0)
    assert link.live_fields()["rtt_viewer_ms"] == ""  # nothing measured: empty, not zero
    assert link.summary().rtt_viewer_ms is None
    for at, rtt in [(0.0, 0.012), (15.0, 0.020), (30.0, 0.016)]:
        link.viewer.pong(link.viewer.payload(at), at + rtt)
    link.agent.pong(link.agent.payload(0.0), 0.0304)
    link.bandwidth.sample(5.0, 625_000, 625)
    fields = link.live_fields()
    assert fields["rtt_viewer_ms"] == 16.0 and fields["rtt_viewer_p50_ms"] == 16.0
    assert fields["rtt_agent_ms"] == 30.4
    assert fields["kbps_to_viewer"] == 1000 and fields["kbps_from_viewer"] == 1
    summary = link.summary()
    assert (summary.rtt_viewer_ms, summary.rtt_agent_ms) == (16, 30)
    assert (summary.kbps_to_viewer_mean, summary.kbps_to_viewer_peak) == (1000, 1000)


@pytest.mark.parametrize("viewer,agent,expected", [
    (None, 10, None), (10, None, None), (10, 20, "good"), (40, 59.9, "good"),
    (50, 50, "fair"), (100, 149, "fair"), (100, 150, "poor"), (1000, 0, "poor"),
])
def test_grade_thresholds(viewer, agent, expected):
    assert grade(viewer, agent) == expected


def test_a_viewer_report_within_bounds():
    report = parse_viewer_report({"updates": 240, "seconds": 10.0, "encoding": "Tight"})
    assert (report.updates, report.seconds, report.encoding, report.fps) == (240, 10.0, "Tight", 24.0)
    assert parse_viewer_report({"updates": 0, "seconds": 1}).encoding == ""


@pytest.mark.parametrize("body", [
    None, [], "x", {}, {"updates": -1, "seconds": 10}, {"updates": 100_001, "seconds": 10},
    {"updates": 1.5, "seconds": 10}, {"updates": True, "seconds": 10}, {"updates": "5", "seconds": 10},
    {"updates": 5, "seconds": 0.5}, {"updates": 5, "seconds": 601}, {"updates": 5, "seconds": math.nan},
    {"updates": 5, "seconds": math.inf}, {"updates": 5, "seconds": False},
    {"updates": 5, "seconds": 10, "encoding": "<script>"}, {"updates": 5, "seconds": 10, "encoding": 7},
])
def test_a_viewer_report_out_of_bounds_is_refused(body):
    with pytest.raises(ReportRefused):
        parse_viewer_report(body)


def test_history_figures_from_a_live_record():
    live = {"rtt_viewer_p50_ms": "12.4", "rtt_agent_p50_ms": "30.6", "kbps_to_viewer_peak": "900",
            "kbps_from_viewer_peak": "", "fbu_total": "300", "fbu_seconds": "20.0", "encoding": "ZRLE"}
    q = quality.from_live(live)
    assert (q.rtt_viewer_ms, q.rtt_agent_ms, q.kbps_to_viewer_peak, q.kbps_from_viewer_peak) == (12, 31, 900, None)
    assert (q.fps, q.encoding) == (15.0, "ZRLE")
    assert quality.viewer_figures({"encoding": "bogus", "fbu_total": "3"}) == {"fps": None, "encoding": ""}


def test_the_journal_keeps_the_figures_and_reads_older_lines():
    from gateway.journal import EndRecord

    record = EndRecord(session="s", ended_at=1.0, to_viewer=1, from_viewer=2, reason="viewer closed",
                       rtt_viewer_ms=12, fps=7.5, encoding="Tight", kbps_to_viewer_peak=300)
    assert EndRecord.from_json(record.to_json()) == record
    old = EndRecord.from_json('{"session": "s", "ended_at": 1.0, "to_viewer": 1, "from_viewer": 2, "reason": "x"}')
    assert old.rtt_viewer_ms is None and old.encoding == ""


def test_the_end_record_takes_the_relays_figures_or_else_the_live_records(app, users):
    from gateway import ops, sessions
    from gateway.extensions import db
    from gateway.models import SessionRecord
    from gateway.quality import SessionQuality

    with app.app_context():
        emp, desk = ops.get_user("emp"), ops.get_machine("desk-1")
        fields = sessions.started("q-relay", emp, desk, "198.51.100.7", "n1")
        sessions.record_end(sessions.end_record("q-relay", fields, to_viewer=1, from_viewer=1, reason="viewer closed",
                                                quality=SessionQuality(rtt_viewer_ms=9, rtt_agent_ms=21, fps=3.5,
                                                                       encoding="ZRLE", kbps_to_viewer_mean=40)))
        # a reaper knows only the live record (strings, as Redis keeps them)
        fields = sessions.started("q-reaped", emp, desk, "198.51.100.7", "n1")
        live = {**fields, "rtt_viewer_p50_ms": "15.2", "rtt_agent_p50_ms": "", "fbu_total": "10", "fbu_seconds": "4"}
        sessions.record_end(sessions.end_record("q-reaped", live, to_viewer=1, from_viewer=1, reason="node stopped"))
        relayed, reaped = db.session.get(SessionRecord, "q-relay"), db.session.get(SessionRecord, "q-reaped")
        assert (relayed.rtt_viewer_ms, relayed.rtt_agent_ms, relayed.fps, relayed.encoding,
                relayed.kbps_to_viewer_mean) == (9, 21, 3.5, "ZRLE", 40)
        assert (reaped.rtt_viewer_ms, reaped.rtt_agent_ms, reaped.fps, reaped.encoding) == (15, None, 2.5, "")


def test_a_forwarded_streams_agent_hop_is_both_legs():
    probe = RttProbe()
    probe.pong(probe.payload(0.0), 0.008)
    far = quality.far_leg_fields(probe)
    assert far == {"rtt_agent_far_ms": 8.0, "rtt_agent_far_p50_ms": 8.0}
    live = {"rtt_agent_ms": "3.0", "rtt_agent_p50_ms": "2.0", **{k: str(v) for k, v in far.items()}}
    assert quality.agent_whole_way(3.0, live) == 11.0
    assert quality.agent_whole_way(2.0, live, median=True) == 10.0
    assert quality.agent_whole_way(None, live) is None          # our own leg unknown: nothing to add to
    assert quality.agent_whole_way(3.0, {}) == 3.0              # not forwarded
    assert quality.from_live({"rtt_agent_p50_ms": "2.0", **far}).rtt_agent_ms == 10


def test_a_forward_hands_on_every_new_agent_sample_also_once_its_probe_is_full():
    """The forwarding node tells the viewer's node of each new round trip; its probe keeps only
    the last ``SAMPLES_KEPT``, so "new" is counted, not read off how many it keeps (which stops
    growing ~4 h into a session)."""
    from gateway.peering import Forward
    from gateway.quality import RttProbe

    told = []
    forward = Forward(None, "127.0.0.1:1", "s" * 32, 1 << 20, on_agent_rtt=lambda probe: told.append(probe.last_ms))
    forward.agent_rtt = RttProbe(keep=2)
    for ms in (10, 20, 30, 40):
        data = forward.agent_rtt.payload(100.0)
        forward.agent_rtt.pong(data, 100.0 + ms / 1000)
        forward._tell_agent_rtt()
        forward._tell_agent_rtt()  # nothing new: not told again
    assert [round(x) for x in told] == [10, 20, 30, 40]
