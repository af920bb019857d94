"""``POST /api/v1/sessions/<id>/quality``: a viewer's figures on its own live session (issue 14).

Owner only (not even an admin reports for someone else's viewer), values bounded, rate-limited;
what it takes lands in the live ``session:<id>`` hash, and the answer carries the gateway's figures.
"""

from __future__ import annotations

import pytest

from tests.support.records import session_ref

GOOD = {"updates": 240, "seconds": 10.0, "encoding": "Tight"}


def _url(session: str) -> str:
    return f"/api/v1/sessions/{session}/quality"


def _post(client, actions, session, body):
    return client.post(_url(session), json=body, headers=actions.headers())


def test_the_owner_reports_and_gets_the_figures_back(app, client, world, login):
    emp = login("emp")
    session = world.live["emp"]
    live = app.extensions["ponte.live"]
    # what the relay wrote at its last progress tick
    live.session_bytes(session, 1000, 10, extra={"rtt_viewer_ms": 18.5, "rtt_agent_ms": 41.0,
                                                 "kbps_to_viewer": 1200, "kbps_from_viewer": 4})
    resp = _post(client, emp, session, GOOD)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    q = resp.get_json()["quality"]
    assert q["fps"] == 24.0 and q["encoding"] == "Tight"
    assert (q["rtt_viewer_ms"], q["rtt_agent_ms"], q["grade"]) == (18.5, 41.0, "good")
    assert q["kbps_to_viewer"] == 1200
    _post(client, emp, session, {"updates": 60, "seconds": 20, "encoding": "ZRLE"})
    record = live.session(session)
    assert record["fps"] == "3.0" and record["encoding"] == "ZRLE"
    assert int(record["fbu_total"]) == 300 and float(record["fbu_seconds"]) == 30.0  # the mean's parts


@pytest.mark.parametrize("body", [
    {"updates": -1, "seconds": 10}, {"updates": 10**9, "seconds": 10}, {"updates": "12", "seconds": 10},
    {"updates": 12, "seconds": 0}, {"updates": 12, "seconds": 10_000}, {"updates": 12},
    {"updates": 12, "seconds": 10, "encoding": "Fancy<b>"}, [1, 2], "text",
])
def test_bad_reports_are_refused_and_change_nothing(app, client, world, login, body):
    emp = login("emp")
    session = world.live["emp"]
    resp = _post(client, emp, session, body)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "bad_request"
    assert "fps" not in app.extensions["ponte.live"].session(session)


def test_not_json_at_all_is_refused(client, world, login):
    emp = login("emp")
    resp = client.post(_url(world.live["emp"]), data="updates=5", headers={**emp.headers(),
                                                                          "Content-Type": "text/plain"})
    assert resp.status_code == 400


def test_only_the_owner_of_a_live_session_may_report(app, client, world, login):
    other = login("other")
    resp = _post(client, other, world.live["emp"], GOOD)
    assert resp.status_code == 404 and world.live["emp"] not in resp.get_data(as_text=True)
    assert "fps" not in app.extensions["ponte.live"].session(world.live["emp"])
    assert _post(client, other, world.ended["other"], GOOD).status_code == 404   # its own, but ended
    assert _post(client, other, session_ref("nobody"), GOOD).status_code == 404
    assert _post(client, other, "../../etc", GOOD).status_code == 404


def test_not_even_an_admin_reports_for_someone_elses_viewer(client, world, login):
    boss = login("boss")
    assert _post(client, boss, world.live["emp"], GOOD).status_code == 404


def test_anonymous_and_csrf_less_reports_are_refused(client, world, login):
    assert client.post(_url(world.live["emp"]), json=GOOD).status_code in (401, 302)
    login("emp")
    assert client.post(_url(world.live["emp"]), json=GOOD).status_code in (400, 403)


def test_reports_are_rate_limited_per_session(client, world, login):
    emp = login("emp")
    codes = [_post(client, emp, world.live["emp"], GOOD).status_code for _ in range(13)]
    assert codes[:12] == [200] * 12
    assert codes[12] == 429
