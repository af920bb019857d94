"""``python -m bench table``: medians, spreads and verdicts over runs, and one real run end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import table
from tests.support import ROOT


def _storm(ratio: float, errors: int = 0) -> dict:
    return {"figures": {"echo_ratio_p99": ratio, "echo_errors": errors, "login_p99_ms": 100.0}}


def test_the_median_decides_and_the_spread_is_every_run():
    rows = {r["key"]: r for r in table.summarise({"storm": [_storm(1.5), _storm(2.5), _storm(1.9, errors=1)]})}
    ratio = rows["storm.echo_ratio"]
    assert (ratio["median"], ratio["low"], ratio["high"], ratio["met"]) == (1.9, 1.5, 2.5, True)
    assert ratio["values"] == [1.5, 2.5, 1.9]
    errors = rows["storm.errors"]
    assert (errors["median"], errors["met"]) == (0, True)  # the median of 0, 0, 1: one run's error is in the spread
    assert errors["high"] == 1
    assert rows["storm.login_p99"]["met"] is None  # a figure with no target is shown, not judged
    text = table.render(list(rows.values()), {"storm": [(0.5, 1.0), (1.0, 2.0), (2.0, 2.5)]})
    assert "| login storm: echo p99 during / quiet (issue 8) | × | 1.90 | 1.50–2.50 | 3 | ≤ 2.00 | yes |" in text
    assert "storm 0.5→1.0, 1.0→2.0, 2.0→2.5" in text


def test_a_median_over_the_target_is_not_met():
    rows = {r["key"]: r for r in table.summarise({"storm": [_storm(2.1), _storm(3.0)]})}
    assert rows["storm.echo_ratio"]["met"] is False
    assert "**no**" in table.render(list(rows.values()), {"storm": [(0, 0), (0, 0)]})


def test_an_unknown_suite_is_refused():
    with pytest.raises(ValueError):
        table.rows_of("nonsense", {})
    done = subprocess.run([sys.executable, "-m", "bench", "table", "--suites", "relay,nonsense"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown suites: nonsense" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_table_runs_a_suite_twice_and_reports_both(tmp_path):
    out = tmp_path / "table.json"
    done = subprocess.run([sys.executable, "-m", "bench", "table", "--quick", "--runs", "2", "--suites", "storm",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert len(report["runs"]["storm"]) == 2 and len(report["loads"]["storm"]) == 2
    ratio = next(r for r in report["table"] if r["key"] == "storm.echo_ratio")
    assert len(ratio["values"]) == 2 and ratio["low"] <= ratio["median"] <= ratio["high"]
    assert "login storm: echo p99 during / quiet" in done.stdout
    assert "python -m bench table --runs 2 --quick --suites storm" in done.stdout
