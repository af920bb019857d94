"""Reports: CSV exports stream in batches, cells never run as formulas, filters refuse bad dates."""

from __future__ import annotations

import csv
import io

import pytest

from gateway import ops, reports
from gateway.extensions import db
from gateway.models import audit


def test_csv_chunks_come_a_batch_at_a_time():
    rows = [[i, f"row {i}"] for i in range(7)]
    chunks = list(reports.csv_chunks(["n", "text"], rows, batch=3))
    assert len(chunks) == 3   # header + rows 1-3, rows 4-6, row 7
    parsed = list(csv.reader(io.StringIO("".join(chunks))))
    assert parsed == [["n", "text"]] + [[str(i), f"row {i}"] for i in range(7)]


@pytest.mark.parametrize("cell, written", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-2", "'-2"), ("@cmd", "'@cmd"), ("\tx", "'\tx"),
    ("plain", "plain"), (None, ""), (42, "42"),
])
def test_csv_cells_are_not_formulas(cell, written):
    assert reports.csv_safe(cell) == written


def test_a_bad_date_is_an_admin_error(app):
    with app.app_context(), pytest.raises(ops.AdminError, match="not a date"):
        reports.history_query({"since": "yesterday"})


def test_audit_export_streams_every_row(app, users, monkeypatch):
    """More rows than a batch: the response is a stream of several chunks, and holds them all."""
    monkeypatch.setattr(reports, "CSV_BATCH", 10)
    with app.app_context():
        for i in range(35):
            audit("report_test", actor="boss", target=f"row-{i}")
        db.session.commit()
        _, token = ops.create_token(ops.get_user("boss"), "reports", actor="boss")
    resp = app.test_client().get("/api/v1/audit?format=csv&action=report_test", buffered=False,
                                 headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="ponte-audit.csv"'
    chunks = [c.decode() for c in resp.response if c]
    resp.close()
    assert len(chunks) == 4   # 35 rows, 10 a chunk
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert sorted(r["target"] for r in rows) == sorted(f"row-{i}" for i in range(35))
