"""Admins read a session's quality: live (the figures its relay and viewer wrote) and in the history
(page, JSON, CSV) once it ended (issue 14)."""

from __future__ import annotations

import csv
import io

from gateway.extensions import db
from gateway.models import SessionRecord

FIGURES = {"rtt_viewer_ms": 14, "rtt_agent_ms": 33, "fps": 24.5, "encoding": "Tight",
           "kbps_to_viewer_mean": 820, "kbps_to_viewer_peak": 4100,
           "kbps_from_viewer_mean": 3, "kbps_from_viewer_peak": 12}


def _measure(app, session: str) -> None:
    with app.app_context():
        row = db.session.get(SessionRecord, session)
        for name, value in FIGURES.items():
            setattr(row, name, value)
        db.session.commit()


def test_history_page_json_and_csv_show_the_figures(app, client, world, admin):
    _measure(app, world.ended["emp"])
    html = client.get("/admin/history").get_data(as_text=True)
    assert "Round trip: viewer 14 ms, PC 33 ms" in html
    assert "24.5 frames/s (Tight)" in html
    assert "kbit/s to viewer 820 (peak 4100), from viewer 3 (peak 12)" in html
    assert "not measured" in html   # the other ended session had no figures
    rows = {r["id"]: r for r in client.get("/api/v1/history").get_json()["history"]}
    assert {k: rows[world.ended["emp"]][k] for k in FIGURES} == FIGURES
    assert rows[world.ended["other"]]["rtt_viewer_ms"] is None and rows[world.ended["other"]]["encoding"] == ""
    table = list(csv.DictReader(io.StringIO(client.get("/api/v1/history?format=csv").get_data(as_text=True))))
    mine = next(r for r in table if r["session"] == world.ended["emp"])
    assert (mine["rtt_viewer_ms"], mine["fps"], mine["encoding"], mine["kbps_to_viewer_peak"]) == ("14", "24.5", "Tight", "4100")
    assert next(r for r in table if r["session"] == world.ended["other"])["rtt_agent_ms"] == ""


def test_live_sessions_show_the_latest_figures_and_grade(app, client, world, admin):
    live = app.extensions["ponte.live"]
    live.session_bytes(world.live["emp"], 1, 1, extra={"rtt_viewer_ms": 90.0, "rtt_agent_ms": 70.0,
                                                      "kbps_to_viewer": 300, "kbps_to_viewer_peak": 900})
    live.session_viewer_report(world.live["emp"], 50, 10.0, 5.0, "ZRLE")
    rows = {r["id"]: r for r in client.get("/api/v1/sessions").get_json()["sessions"]}
    q = rows[world.live["emp"]]["quality"]
    assert (q["rtt_viewer_ms"], q["rtt_agent_ms"], q["grade"], q["fps"], q["encoding"]) == (90.0, 70.0, "fair", 5.0, "ZRLE")
    assert rows[world.live["other"]]["quality"]["grade"] is None   # nothing measured yet
    html = client.get("/admin/sessions").get_data(as_text=True)
    assert 'class="badge quality-fair"' in html
    assert "Round trip: viewer 90 ms, PC 70 ms" in html and "5.0 frames/s (ZRLE)" in html
