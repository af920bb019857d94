"""``python -m bench recording --quick`` end to end: both stacks measured, and the recording-on
stack really recorded (files whose records add up to more than nothing)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_bench_recording_quick_measures_both_and_records(tmp_path):
    out = tmp_path / "rec.json"
    done = subprocess.run([sys.executable, "-m", "bench", "recording", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())["figures"]
    assert figures["off"]["throughput_mbps"] > 0 and figures["on"]["throughput_mbps"] > 0
    recorded = figures["on"]["recorded"]
    assert recorded["files"] == 3 and recorded["raw_bytes"] > 1_000_000  # throughput, loaded stream, probe
    assert "single-stream throughput" in done.stdout and "recorded:" in done.stdout
