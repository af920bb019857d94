"""The OIDC callback refuses every ID token that is not for us, from our provider, fresh, signed
by the provider's key and bound to this login's nonce (OpenID Connect Core §3.1.3.7).

The provider is ``tests.support.token_issuer``: a real HTTP provider whose token endpoint answers
with a token crafted per test. Each refusal has a twin that differs in that one claim and signs in
(``test_a_good_token_signs_in``), so a test here fails if its check is removed.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from gateway.extensions import db
from gateway.models import AuditEvent, User
from tests.support.token_issuer import TokenIssuer, new_key

REFUSED = "Company sign-in did not work"


@pytest.fixture(scope="module")
def issuer():
    server = TokenIssuer().start()
    yield server
    server.stop()


@pytest.fixture
def company_app(make_app, issuer):
    return make_app(**issuer.settings())


def _begin(client) -> tuple[str, str]:
    """Press "Sign in with …": the state and nonce the gateway sent to the provider."""
    resp = client.get("/login/oidc")
    assert resp.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    return query["state"], query["nonce"]


def _come_back(app, issuer, craft):
    """One sign-in whose token endpoint answers with ``craft(nonce)``: (response, signed in?)."""
    client = app.test_client()
    state, nonce = _begin(client)
    issuer.next_id_token = craft(nonce)
    resp = client.get(f"/login/oidc/callback?code=the-code&state={state}", follow_redirects=True)
    signed_in = client.get("/api/v1/me").status_code == 200
    return resp, signed_in


def _refused(app, issuer, craft) -> str:
    resp, signed_in = _come_back(app, issuer, craft)
    assert not signed_in
    assert resp.request.path == "/login" and REFUSED in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.name == "alice")) is None   # nobody made
        failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login_failed")).all()
    assert failed and failed[-1].detail.startswith("oidc: ")
    return failed[-1].detail


def test_a_good_token_signs_in(company_app, issuer):
    resp, signed_in = _come_back(company_app, issuer, lambda nonce: issuer.sign(issuer.claims(nonce)))
    assert signed_in and resp.request.path == "/"
    assert "code_verifier=" in issuer.token_requests[-1]     # PKCE: the code is redeemed with the verifier


def test_wrong_audience_is_refused(company_app, issuer):
    # Issued to another client of the same provider. ``azp`` names us, so only the audience check
    # stands between this token and a login (without it, the ``azp`` rule would refuse it first).
    from tests.support.token_issuer import CLIENT_ID

    detail = _refused(company_app, issuer,
                      lambda nonce: issuer.sign(issuer.claims(nonce, aud="another-client", azp=CLIENT_ID)))
    assert "aud" in detail


def test_token_for_another_client_without_azp_is_refused(company_app, issuer):
    _refused(company_app, issuer, lambda nonce: issuer.sign(issuer.claims(nonce, aud=["another-client"])))


def test_wrong_issuer_is_refused(company_app, issuer):
    detail = _refused(company_app, issuer,
                      lambda nonce: issuer.sign(issuer.claims(nonce, iss="https://evil.example")))
    assert "iss" in detail


def test_expired_token_is_refused(company_app, issuer):
    # Past Authlib's 120 s leeway for clock skew.
    now = int(time.time())
    detail = _refused(company_app, issuer,
                      lambda nonce: issuer.sign(issuer.claims(nonce, iat=now - 3600, exp=now - 600)))
    assert "expired" in detail.lower() or "exp" in detail


def test_token_signed_by_another_key_is_refused(company_app, issuer):
    impostor = new_key()   # same key id, another key: the signature does not verify
    detail = _refused(company_app, issuer, lambda nonce: issuer.sign(issuer.claims(nonce), key=impostor))
    assert "signature" in detail.lower()


def test_unsigned_token_is_refused(company_app, issuer):
    def unsigned(nonce):
        part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(issuer.claims(nonce))}."
    _refused(company_app, issuer, unsigned)


def test_wrong_nonce_is_refused(company_app, issuer):
    detail = _refused(company_app, issuer, lambda nonce: issuer.sign(issuer.claims("a-replayed-nonce")))
    assert "nonce" in detail


def test_missing_nonce_is_refused(company_app, issuer):
    _refused(company_app, issuer, lambda _nonce: issuer.sign({k: v for k, v in issuer.claims("").items() if k != "nonce"}))


def test_an_answer_without_an_id_token_is_refused(company_app, issuer):
    _refused(company_app, issuer, lambda nonce: "")


def test_a_token_for_us_among_other_audiences_signs_in(company_app, issuer):
    from tests.support.token_issuer import CLIENT_ID

    _, signed_in = _come_back(company_app, issuer, lambda nonce: issuer.sign(
        issuer.claims(nonce, aud=[CLIENT_ID, "another-client"], azp=CLIENT_ID)))
    assert signed_in
