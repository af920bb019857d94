"""The emulated WAN: the link model itself, and ``python -m bench wan --quick`` end to end."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import pytest

from bench.linkemu import Direction
from tests.bench.tablecheck import assert_table_reads
from tests.support import ROOT


def _link(**kw) -> Direction:
    args = dict(src=0, dst=1, delay=0.020, rate=20e6 / 8, loss=0.0, limit=1000)
    args.update(kw)
    return Direction(**args)


def test_a_packet_arrives_after_its_serialisation_and_the_delay():
    d = _link()
    at = d.admit(10.0, 1500, random.Random(1))
    assert at == pytest.approx(10.0 + 1500 / (20e6 / 8) + 0.020)


def test_back_to_back_packets_queue_behind_each_other_at_the_rate():
    d = _link()
    times = [d.admit(0.0, 1500, random.Random(1)) for _ in range(100)]
    # 100 full packets at 20 Mbit/s take 60 ms on the wire, then the delay.
    assert times[-1] == pytest.approx(100 * 1500 * 8 / 20e6 + 0.020)
    assert times == sorted(times)


def test_the_queue_is_bounded_and_drops_at_its_tail():
    d = _link(limit=10)
    arrivals = [d.admit(0.0, 1500, random.Random(1)) for _ in range(15)]
    assert arrivals[10:] == [None] * 5 and d.dropped == 5


def test_loss_is_about_the_configured_rate():
    d = _link(loss=0.01, limit=10**9)
    rng = random.Random(7)
    lost = sum(d.admit(float(i), 100, rng) is None for i in range(100_000))
    assert 800 < lost < 1200


def test_quick_wan_bench_reports_every_figure_over_links_that_really_delay(tmp_path):
    from bench.wan import available

    why = available()
    if why:
        pytest.skip(f"the WAN bench cannot run here: {why}")
    out = tmp_path / "wan.json"
    res = subprocess.run([sys.executable, "-m", "bench", "wan", "--quick", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "keystroke echo p50" in res.stdout
    data = json.loads(out.read_text())
    assert_table_reads("wan", data)
    figures = data["figures"]
    for key, values in figures.items():
        for path, value in values.items():
            assert isinstance(value, float) and not math.isnan(value), (key, path, value)
    # Two links of 40 ms round trip each lie between the viewer and the office PC on every path.
    for path in ("raw", "websockify", "ponte"):
        assert figures["echo_s_p50"][path] >= 80.0, figures["echo_s_p50"]
