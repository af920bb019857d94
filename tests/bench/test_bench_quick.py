"""``python -m bench --quick`` still runs end to end and reports every figure.

No timing assertions: the figures depend on the machine. This only keeps
the benchmark (issue 3) working as the relay changes.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

from tests.bench.tablecheck import assert_table_reads
from tests.support import ROOT

ALL = ("raw", "websockify", "ponte")
RELAYS = ("websockify", "ponte")


def expected_rows(meta: dict) -> dict[str, tuple[str, ...]]:
    rows = {key: ALL for key in ("throughput_mbps", "rtt_idle_p50_ms", "rtt_idle_p99_ms", "rtt_loaded_p50_ms",
                                 "rtt_loaded_p99_ms", "first_byte_ms")}
    for n in meta["levels"]:
        rows.update({f"concurrent_{n}_mbps": ALL, f"concurrent_{n}_rtt_p99_ms": ALL, f"concurrent_{n}_errors": ALL})
    for n in meta["idle_agent_counts"]:
        rows[f"idle_agent_rss_kb_{n}"] = ("ponte",)
    rows.update({"live_session_rss_kb": ("ponte",), "streaming_session_rss_kb": ("ponte",),
                 "cpu_relay_s_per_gb": RELAYS, "cpu_gateway_s_per_gb": ("ponte",),
                 "cpu_agent_s_per_gb": ("ponte",), "node_mbps_per_core": RELAYS})
    return rows


def test_quick_bench_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out),
                          "--workdir", str(tmp_path / "work")],
                         cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "single-stream throughput" in res.stdout  # the table
    data = json.loads(out.read_text())
    assert_table_reads("relay", data)
    rows = {row["key"]: row for row in data["rows"]}
    for key, paths in expected_rows(data["meta"]).items():
        assert key in rows, f"figure {key} missing"
        for path in paths:
            value = rows[key][path]
            assert isinstance(value, (int, float)) and not math.isnan(value), f"{key}/{path}: {value!r}"
    for row in data["rows"]:
        if row["ponte"] is not None and row["websockify"]:
            assert row["ponte/websockify"] is not None, row["key"]
    assert len(data["targets"]) == 6
    assert all(t["value"] is not None and t["met"] in (True, False) for t in data["targets"]), data["targets"]
    for n in data["meta"]["levels"]:
        assert rows[f"concurrent_{n}_errors"]["ponte"] == 0, f"Ponte stream errors at {n} streams"
    for n in data["meta"]["idle_agent_counts"]:
        assert data["details"]["idle_agents"]["counts"][str(n)]["failed"] == 0
