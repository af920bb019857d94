"""Every fuzz target runs for a few seconds in ``make test``; ``make fuzz`` runs them for 10 minutes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ARTIFACTS
from tests.support import ROOT

pytest.importorskip("atheris", reason="atheris has wheels for x86_64 Linux only")
pytestmark = pytest.mark.slow

SECONDS = 3


def test_every_target_survives_a_short_run():
    from tests.fuzz.targets import TARGETS

    corpus = ARTIFACTS / "fuzz-corpus"
    proc = subprocess.run([sys.executable, "-m", "tests.fuzz.run", "--seconds", str(SECONDS),
                           "--corpus", str(corpus)], cwd=ROOT, capture_output=True, text=True,
                          timeout=len(TARGETS) * (SECONDS + 60))
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    for name in TARGETS:
        line = next(line for line in proc.stdout.splitlines() if line.startswith(name + " "))
        assert " ok " in line and int(line.split()[2]) > 0, line  # it ran inputs, and none crashed
