"""``python -m bench signup --quick`` still runs end to end and reports every figure.

No timing assertions (the figures depend on the machine): every sign-up must get the "Check
your e-mail" page, each from its own X-Forwarded-For address behind ``trusted_proxies = 1``,
every confirmation mail must reach the SMTP sink, and every echo must come back.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

from bench.signup import client_address
from tests.bench.tablecheck import assert_table_reads
from tests.support import ROOT

FIGURES = ("signup_p50_ms", "signup_p99_ms", "echo_quiet_p99_ms", "echo_during_p99_ms", "echo_ratio_p99")


def test_addresses_are_distinct_over_a_full_run():
    assert len({client_address(i) for i in range(2000)}) == 2000


def test_quick_signup_bench_reports_every_figure(tmp_path):
    out = tmp_path / "signup.json"
    res = subprocess.run([sys.executable, "-m", "bench", "signup", "--quick", "--json", str(out),
                          "--workdir", str(tmp_path / "work")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "echo p99 during / quiet" in res.stdout   # the table
    data = json.loads(out.read_text())
    assert_table_reads("signup", data)
    figures = data["figures"]
    for key in FIGURES:
        assert isinstance(figures[key], float) and not math.isnan(figures[key]), (key, figures[key])
    assert figures["signups"] == 25 and figures["signup_errors"] == 0, figures["signup_error_samples"]
    assert figures["mails"] == 25 and figures["mails_missing"] == 0
    assert figures["echo_errors"] == 0 and all(n > 0 for n in figures["echo_samples"])
