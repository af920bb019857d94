"""TOTP seeds are sealed in the database (``gateway.sealing``) and fail closed under another key."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select

from gateway import sealing
from gateway.errors import SealError
from gateway.extensions import db
from gateway.models import TotpFactor, User
from tests.gateway.test_factors_totp import _code_at, _password_step, _second_step, turn_on_totp


def _stored(app, name: str) -> str:
    """The totp_factors row of ``name`` as the database file holds it, read past the ORM."""
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.name == name))
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return " ".join(str(v) for v in conn.execute("SELECT * FROM totp_factors WHERE user_id = ?",
                                                        (user_id,)).fetchone())


def test_the_row_does_not_hold_the_secret_and_codes_still_verify(app, users, client, auth):
    auth.login("emp", "emppass12")
    secret, _ = turn_on_totp(client, auth)
    row = _stored(app, "emp")
    assert secret not in row and secret.lower() not in row
    with app.app_context():
        factor = db.session.scalar(select(TotpFactor))
        assert sealing.unseal(factor.sealed_secret, app.config["SECRET_KEY"]) == secret
    fresh = app.test_client()
    assert _password_step(fresh).headers["Location"] == "/login/second-factor"
    resp = _second_step(fresh, _code_at(secret, +1))
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_under_another_instance_key_the_right_code_is_refused(app, users, client, auth, caplog):
    auth.login("emp", "emppass12")
    secret, _ = turn_on_totp(client, auth)
    app.config["SECRET_KEY"] = "another-instance-secret-" + "x" * 40
    fresh = app.test_client()
    assert _password_step(fresh).headers["Location"] == "/login/second-factor"
    resp = _second_step(fresh, _code_at(secret, +1))
    assert resp.status_code == 401
    assert "cannot be checked here" in resp.get_data(as_text=True)
    assert fresh.get("/").headers["Location"].startswith("/login")     # still not logged in
    assert "does not open under this instance's SECRET_KEY" in caplog.text


def test_sealing_is_keyed_by_secret_and_purpose_and_detects_tampering():
    token = sealing.seal("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "key-one")
    assert "JBSWY3DP" not in token
    assert sealing.unseal(token, "key-one") == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    with pytest.raises(SealError):
        sealing.unseal(token, "key-two")
    with pytest.raises(SealError):
        sealing.unseal(token, "key-one", purpose="something else")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(SealError):
        sealing.unseal(tampered, "key-one")
    with pytest.raises(SealError):
        sealing.seal("x", "")
