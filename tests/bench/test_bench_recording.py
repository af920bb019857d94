"""``python -m bench recording --quick`` end to end: both stacks measured in every phase
(saturated, paced below what the folder takes, office load), and the recording-on stack really
recorded (files whose records add up to more than nothing)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.bench.tablecheck import assert_table_reads
from tests.support import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_bench_recording_quick_measures_both_and_records(tmp_path):
    out = tmp_path / "rec.json"
    done = subprocess.run([sys.executable, "-m", "bench", "recording", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert_table_reads("recording", report)
    figures = report["figures"]
    assert len(figures["folder_write_mbps"]) == 2 and min(figures["folder_write_mbps"]) > 0
    assert 0 < figures["paced_mbps"]
    for phase in ("saturated", "paced", "office"):
        assert figures[phase]["off"]["throughput_mbps"] > 0 and figures[phase]["on"]["throughput_mbps"] > 0
        assert figures[phase]["ratio_median"] > 0
        recorded = figures[phase]["on"]["recorded"]
        # each round: the throughput session, the loaded stream and its echo probe; or the office's sessions
        per_round = figures["office_sessions"] if phase == "office" else 3
        assert recorded["files"] == per_round * report["plan"]["rounds"], recorded
        assert figures[phase]["off"]["errors"] == 0 and figures[phase]["on"]["errors"] == 0
        assert recorded["raw_bytes"] > (100_000 if phase == "office" else 1_000_000), recorded
        assert recorded["unfinished"] == 0, recorded
    # a paced stream reads no faster than its pace (a little over: the socket buffers' worth)
    assert figures["paced"]["off"]["throughput_mbps"] < figures["paced_mbps"] * 1.5
    assert "a saturated stream" in done.stdout and "a stream paced at" in done.stdout and "office load" in done.stdout
    assert "recorded:" in done.stdout and "the folder took" in done.stdout
