"""``python -m bench storm --quick`` still runs end to end and reports every figure.

No timing assertions (the figures depend on the machine); the logins must
all succeed, each from its own X-Forwarded-For address behind
``trusted_proxies = 1``, and every echo must come back.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

from tests.bench.tablecheck import assert_table_reads
from tests.support import ROOT

FIGURES = ("login_p50_ms", "login_p99_ms", "healthz_p99_ms", "echo_quiet_p99_ms", "echo_during_p99_ms",
           "echo_ratio_p99")


def test_quick_storm_reports_every_figure(tmp_path):
    out = tmp_path / "storm.json"
    res = subprocess.run([sys.executable, "-m", "bench", "storm", "--quick", "--json", str(out),
                          "--workdir", str(tmp_path / "work")],
                         cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "echo p99 during / quiet" in res.stdout  # the table
    data = json.loads(out.read_text())
    assert_table_reads("storm", data)
    figures = data["figures"]
    for key in FIGURES:
        assert isinstance(figures[key], float) and not math.isnan(figures[key]), (key, figures[key])
    assert figures["login_errors"] == 0, figures["login_error_samples"]
    assert figures["echo_errors"] == 0
    assert all(n > 0 for n in figures["echo_samples"])
