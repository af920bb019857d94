"""The words a person reads, in Italian (issue 13): why a session ended (stored in English,
translated when shown), the flash messages of second factors and company sign-in, and the
validation messages at the login form's fields."""

from __future__ import annotations

import csv
import io

from gateway import end_reasons, ops, relay
from gateway.ops import shares
from gateway.extensions import db
from gateway.models import SessionRecord
from gateway.signin import invitations
from tests.support.web import csrf_from

IT = {"Accept-Language": "it"}


class _Closed:
    """What ``relay._peer_reason`` reads of a WebSocket that closed: its code and reason."""

    def __init__(self, code: int, reason: str = ""):
        self.close_code, self.close_reason = code, reason


def test_the_reasons_the_relay_writes_are_known(app):
    with app.test_request_context(headers=IT):
        assert end_reasons.shown(relay._peer_reason("viewer", _Closed(1000))) == "Il visualizzatore è stato chiuso"
        assert end_reasons.shown(relay._peer_reason("agent", _Closed(1006))) == "Il PC ha chiuso la connessione"
        assert end_reasons.shown(relay._peer_reason("agent", _Closed(4000, "VNC refused"))) == \
            "Il PC ha chiuso la connessione: VNC refused"
        assert end_reasons.shown(relay.SILENT["agent"]) == "Il PC ha smesso di rispondere"
        assert end_reasons.shown("Please save your work, we reboot") == "Please save your work, we reboot"
        # issue 13: the take-over, access taken away, the session's limits (stored in English)
        assert end_reasons.shown("Taken over by boss") == "È subentrato boss"
        assert end_reasons.shown(ops.ACCESS_REMOVED) == "Un amministratore Le ha tolto l’accesso a questo PC"
        assert end_reasons.shown(shares.REVOKED_REASON) == "Il link di condivisione è stato revocato"
        assert end_reasons.shown("Ended after 15 minutes without input") == "Chiusa dopo 15 minuti senza input"
        assert end_reasons.shown("Maximum session length reached") == "Raggiunta la durata massima della sessione"
    with app.test_request_context():
        assert end_reasons.shown("viewer closed") == "The viewer was closed"


def test_history_shows_the_reason_in_italian_and_keeps_it_stored_in_english(app, client, world, login):
    login("boss")
    html = client.get("/admin/history", headers=IT).get_data(as_text=True)
    assert "Il visualizzatore è stato chiuso" in html and "viewer closed" not in html
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/history.csv", headers=IT).get_data(as_text=True))))
    assert {r["end_reason"] for r in rows} == {"viewer closed", ""}   # the ended ones; the live ones have none yet
    with app.app_context():
        assert db.session.get(SessionRecord, world.ended["emp"]).end_reason == "viewer closed"


def test_the_history_shows_an_idle_end_in_the_readers_language(app, client, world, login):
    with app.app_context():
        db.session.get(SessionRecord, world.ended["other"]).end_reason = "Ended after 15 minutes without input"
        db.session.commit()
    login("boss")
    assert "Chiusa dopo 15 minuti senza input" in client.get("/admin/history", headers=IT).get_data(as_text=True)
    assert "Ended after 15 minutes without input" in client.get("/admin/history").get_data(as_text=True)


def test_the_viewer_gets_the_reason_to_show_beside_the_stored_one(client, world, login):
    login("emp")
    body = client.get(f"/api/v1/sessions/{world.ended['emp']}", headers=IT).get_json()
    assert body["end_reason"] == "viewer closed"
    assert body["end_reason_text"] == "Il visualizzatore è stato chiuso"


def test_company_sign_in_flashes_in_italian(app, client, users):
    with app.app_context():
        token = invitations.issue(ops.get_user("emp"), invitations.INVITE)
    page = client.get(f"/invite/{token}", headers=IT).get_data(as_text=True)
    resp = client.post(f"/invite/{token}", headers=IT, data={"csrf_token": csrf_from(page),
                                                             "password": "a-new-pass-1", "again": "other-pass-2"})
    assert resp.status_code == 400 and "Le due password non coincidono." in resp.get_data(as_text=True)


def test_an_empty_login_form_says_what_is_missing_at_each_field(client, users):
    for headers, words in ((IT, "Questo campo è obbligatorio."), ({}, "This field is required.")):
        page = client.get("/login", headers=headers).get_data(as_text=True)
        resp = client.post("/login", headers=headers, data={"csrf_token": csrf_from(page), "name": "", "password": ""})
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400
        assert html.count(words) == 2
        assert 'aria-invalid="true"' in html and 'aria-describedby="name-error"' in html
