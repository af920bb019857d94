"""Passkey routes with the Flask test client: what is refused before any authenticator answers.
Registration and assertions themselves are tested in Chromium (tests/browser/test_factors_browser.py)."""

from __future__ import annotations

import json

from sqlalchemy import select

from gateway import ops
from gateway.extensions import db
from gateway.factors import policy
from gateway.models import AuditEvent, Passkey
from tests.support.web import csrf_from


def _csrf(client) -> str:
    return csrf_from(client.get("/login").get_data(as_text=True))


def test_passwordless_options_only_where_the_admin_allows(app, users, client):
    csrf = _csrf(client)
    resp = client.post("/login/passkey/options", headers={"X-CSRFToken": csrf})
    assert resp.status_code == 403
    assert 'id="passkey-login"' not in client.get("/login").get_data(as_text=True)
    with app.app_context():
        policy.save("off", [], True, actor="boss")
    assert 'id="passkey-login"' in client.get("/login").get_data(as_text=True)
    options = client.post("/login/passkey/options", headers={"X-CSRFToken": csrf}).get_json()
    assert options["rpId"] == "localhost" and options["userVerification"] == "required"
    assert options["allowCredentials"] == [] and len(options["challenge"]) >= 43


def test_an_unknown_passkey_is_refused_and_audited(app, users, client):
    with app.app_context():
        policy.save("off", [], True, actor="boss")
    csrf = _csrf(client)
    client.post("/login/passkey/options", headers={"X-CSRFToken": csrf})
    resp = client.post("/login/passkey", headers={"X-CSRFToken": csrf, "Content-Type": "application/json"},
                       data=json.dumps({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}))
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "passkey_refused"
    assert client.get("/").headers["Location"].startswith("/login")
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "login_failed")) == \
            "passkey refused"


def test_an_answer_without_its_challenge_is_refused(app, users, client):
    with app.app_context():
        policy.save("off", [], True, actor="boss")
    csrf = _csrf(client)
    resp = client.post("/login/passkey", headers={"X-CSRFToken": csrf, "Content-Type": "application/json"},
                       data=b"{}")
    assert resp.status_code == 401 and "too long" in resp.get_json()["error"]["message"]


def test_registration_needs_a_name_and_a_verified_answer(app, users, client, auth):
    auth.login("emp", "emppass12")
    headers = {"X-CSRFToken": auth.csrf, "Content-Type": "application/json"}
    options = client.post("/account/passkeys/options", headers=headers).get_json()
    assert options["rp"] == {"id": "localhost", "name": "Ponte"} and options["user"]["name"] == "emp"
    assert client.post("/account/passkeys", headers=headers,
                       data=json.dumps({"name": "", "credential": {}})).status_code == 400
    resp = client.post("/account/passkeys", headers=headers,
                       data=json.dumps({"name": "key", "credential": {"id": "x", "response": {}}}))
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Passkey.id)) is None


def test_removing_or_renaming_another_persons_passkey_is_refused(app, users, client, auth):
    with app.app_context():
        other = ops.get_user("other")
        key = Passkey(user_id=other.id, name="theirs", credential_id="Y3JlZA", public_key=b"k")
        db.session.add(key)
        db.session.commit()
        key_id = key.id
    auth.login("emp", "emppass12")
    client.post("/account/passkeys/rename", data={"csrf_token": auth.csrf, "passkey_id": key_id, "name": "mine"})
    client.post("/account/passkeys/remove", data={"csrf_token": auth.csrf, "passkey_id": key_id,
                                                  "password": "emppass12"})
    with app.app_context():
        assert db.session.get(Passkey, key_id).name == "theirs"
