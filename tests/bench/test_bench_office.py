"""``python -m bench office --quick``: the office load over every path, and its message reader."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys

import pytest

from bench.client import ClientError
from bench.office import OfficeReader
from bench.officetarget import ECHO, SCREEN
from tests.bench.tablecheck import assert_table_reads
from tests.support import ROOT


def _messages() -> bytes:
    return (struct.pack(">BI", SCREEN, 5) + b"abcde" + struct.pack(">BI", ECHO, 8) + struct.pack(">Q", 42)
            + struct.pack(">BI", SCREEN, 0) + struct.pack(">BI", ECHO, 8) + struct.pack(">Q", 43))


@pytest.mark.parametrize("step", [1, 2, 3, 7, 100])
def test_the_reader_splits_screen_bytes_from_echoes_at_any_cut(step):
    data, reader = _messages(), OfficeReader()
    for i in range(0, len(data), step):
        reader.feed(memoryview(data)[i:i + step])
    assert reader.screen == 5 and reader.echoes == [42, 43]


def test_the_reader_refuses_what_the_target_never_sends():
    with pytest.raises(ClientError):
        OfficeReader().feed(struct.pack(">BI", 7, 1) + b"x")


def test_quick_office_bench_has_no_errors_on_any_path(tmp_path):
    out = tmp_path / "office.json"
    res = subprocess.run([sys.executable, "-m", "bench", "office", "--quick", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "keystroke echo p99" in res.stdout
    data = json.loads(out.read_text())
    assert_table_reads("office", data)
    figures = data["figures"]
    for path in ("raw", "websockify", "ponte"):
        f = figures[path]
        assert f["errors"] == 0, (path, f)
        assert f["echoes"] > 0 and not math.isnan(f["echo_p99_ms"]), (path, f)
        assert f["screen_mbps"] > 0, (path, f)
    assert figures["ponte"]["relay_rss_mb"] > 0 and figures["websockify"]["relay_pss_mb"] > 0
