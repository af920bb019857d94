"""OpenID Connect sign-in against a real provider (node + npm ``oidc-provider``,
tests/support/oidc/) and a real gateway process, over HTTP both ways.

What a person sees: on the login page a "Sign in with Example Corp" button; the
provider's own sign-in and consent pages; then their PCs in the portal.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
import requests

from gateway import create_app
from tests.support.oidc_provider import OIDCProvider, installed, start_company

pytestmark = pytest.mark.skipif(not installed(), reason="node or tests/support/oidc/node_modules missing "
                                                        "(npm ci in tests/support/oidc)")


@pytest.fixture
def company(tmp_path, redis_server):
    """A provider and a gateway that trusts it (people created just in time)."""
    provider, gw = start_company(tmp_path, redis_server, PONTE_OIDC_CREATE_USERS="1")
    yield provider, gw
    gw.stop()
    provider.stop()


def _form(html: str) -> tuple[str, dict]:
    action = re.search(r'<form[^>]*action="([^"]+)"', html).group(1)
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    return action, fields


def sign_in(gw, provider: OIDCProvider, name: str, web: requests.Session | None = None,
            start: str = "/login/oidc") -> requests.Session:
    """Press the button, sign in and consent at the provider, come back (``web.last``: the last page)."""
    if web is None:
        web = requests.Session()
        login = web.get(gw.url + "/login", timeout=10).text
        assert "Sign in with Example Corp" in login
    page = web.get(gw.url + start, timeout=10)
    assert page.url.startswith(provider.issuer + "/interaction/")
    action, fields = _form(page.text)
    page = web.post(urljoin(page.url, action), data={**fields, "login": name, "password": "any"}, timeout=10)
    while page.url.startswith(provider.issuer + "/interaction/"):   # consent
        action, fields = _form(page.text)
        page = web.post(urljoin(page.url, action), data=fields, timeout=10)
    web.last = page
    return web


def test_sign_in_with_the_company_provider(company):
    provider, gw = company
    web = sign_in(gw, provider, "alice")
    assert web.last.url == gw.url + "/", web.last.url
    assert "alice" in web.last.text
    me = web.get(gw.url + "/api/v1/me", timeout=10).json()
    assert me["user"]["name"] == "alice"
    listing = gw.cli("user", "list")
    assert re.search(r"\talice\t", listing)


def test_local_account_cannot_be_taken_over(company):
    provider, gw = company
    gw.add_user("bob", "bobpass-123")    # a local account: the provider's "bob" is not this bob
    web = sign_in(gw, provider, "bob")
    assert web.last.url.startswith(gw.url + "/login")
    assert "no Ponte account for bob that signs in this way" in web.last.text
    assert web.get(gw.url + "/api/v1/me", timeout=10).status_code == 401


def test_revocation_ends_oidc_logins(company):
    provider, gw = company
    web = sign_in(gw, provider, "alice")
    assert web.get(gw.url + "/api/v1/me", timeout=10).status_code == 200
    gw.cli("user", "disable", "alice")
    assert web.get(gw.url + "/api/v1/me", timeout=10).status_code == 401
    again = sign_in(gw, provider, "alice")
    assert again.last.url.startswith(gw.url + "/login")


def test_tampered_state_is_refused(company):
    provider, gw = company
    web = requests.Session()
    resp = web.get(gw.url + "/login/oidc/callback?code=forged&state=forged", timeout=10)
    assert resp.url.startswith(gw.url + "/login")
    assert "Company sign-in did not work" in resp.text


def test_oidc_is_off_without_an_issuer(tmp_path, redis_server):
    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server})
    client = app.test_client()
    assert client.get("/login/oidc").status_code == 404
    assert "Sign in with" not in client.get("/login").get_data(as_text=True)


def test_admin_confirms_through_the_provider(company):
    """/reauth for a person without a password here: the provider must sign them in afresh."""
    provider, gw = company
    gw.cli("user", "add", "carol", "--admin", input="carolpass-12\n")
    gw.cli("user", "signin", "carol", "oidc")
    web = sign_in(gw, provider, "carol")
    reauth = web.get(gw.url + "/reauth?next=/admin/", timeout=10).text
    assert "Confirm with Example Corp" in reauth
    sign_in(gw, provider, "carol", web=web, start="/login/oidc?confirm=1&next=/admin/")
    assert web.last.url == gw.url + "/admin/", web.last.url
    token = gw.cli("user", "token", "carol").strip()
    events = requests.get(gw.url + "/api/v1/audit", headers={"Authorization": f"Bearer {token}"},
                          timeout=10).json()
    rows = events.get("events") or events.get("audit") or []
    assert any(e["action"] == "reauth" and e["detail"] == "oidc" and e["actor"] == "carol" for e in rows), rows


def test_the_authorisation_request_carries_pkce_state_and_nonce(company):
    from urllib.parse import parse_qs, urlsplit

    provider, gw = company
    resp = requests.get(gw.url + "/login/oidc", allow_redirects=False, timeout=10)
    assert resp.status_code == 302
    url = urlsplit(resp.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}" == provider.issuer
    assert query["response_type"] == "code" and query["client_id"] == "ponte-test"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    assert query["redirect_uri"] == gw.url + "/login/oidc/callback"
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
