"""Two firms, two OpenID providers (issue 17): real ``oidc-provider`` processes and a real gateway.

The default firm signs in with the gateway's settings (provider A, "Example Corp"); firm
"bianchi" with its own provider B, set by the provider's operator (``org signin``). A person of
provider B lands in firm B only, and an answer of provider B delivered to a flow begun for the
default firm (or to no flow at all) signs nobody in, whatever the state says.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
import requests

from tests.support.oidc_provider import CLIENT_SECRET, CLIENT_ID, OIDCProvider, installed, start_company

pytestmark = pytest.mark.skipif(not installed(), reason="node or tests/support/oidc/node_modules missing "
                                                        "(npm ci in tests/support/oidc)")


@pytest.fixture
def two_firms(tmp_path, redis_server):
    provider_a, gw = start_company(tmp_path, redis_server, PONTE_OIDC_CREATE_USERS="1")
    provider_b = OIDCProvider.start(tmp_path / "idp-b", gw.url + "/login/oidc/callback")
    try:
        gw.cli("org", "add", "Bianchi Srl", "--slug", "bianchi", "--language", "en")
        out = gw.cli("org", "signin", "bianchi", "--oidc-issuer", provider_b.issuer, "--oidc-client-id", CLIENT_ID,
                     "--oidc-client-secret", "-", "--oidc-label", "Bianchi Login", "--oidc-create-users",
                     input=CLIENT_SECRET + "\n")
        assert CLIENT_SECRET not in out and "oidc_client_secret_set\tTrue" in out, out
        yield provider_a, provider_b, gw
    finally:
        gw.stop()
        provider_b.stop()
        provider_a.stop()


def _form(html: str) -> tuple[str, dict]:
    action = re.search(r'<form[^>]*action="([^"]+)"', html).group(1)
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    return action, fields


def to_callback(web: requests.Session, gw, provider: OIDCProvider, name: str, start: str) -> str:
    """Begin a sign-in at ``start``, sign in and consent at ``provider``; the URL it sends the
    browser back to (the gateway's callback with code and state), not yet opened."""
    page = web.get(gw.url + start, timeout=10)
    assert page.url.startswith(provider.issuer + "/interaction/"), page.url
    action, fields = _form(page.text)
    resp = web.post(urljoin(page.url, action), data={**fields, "login": name, "password": "any"},
                    allow_redirects=False, timeout=10)
    while True:
        location = urljoin(resp.url, resp.headers.get("Location", ""))
        if location.startswith(gw.url + "/login/oidc/callback"):
            return location
        if resp.status_code in (301, 302, 303):
            resp = web.get(location, allow_redirects=False, timeout=10)
            continue
        action, fields = _form(resp.text)   # the consent page
        resp = web.post(urljoin(resp.url, action), data=fields, allow_redirects=False, timeout=10)


def _people(gw, org: str) -> list[str]:
    return re.findall(r"^\d+\t(\S+)\t", gw.cli("--organisation", org, "user", "list"), re.M)


def test_each_firm_signs_in_with_its_own_provider(two_firms):
    provider_a, provider_b, gw = two_firms
    web = requests.Session()
    page = web.get(gw.url + "/o/bianchi/login", timeout=10).text
    assert "Sign in with Bianchi Login" in page and "Example Corp" not in page
    assert "Sign in with Example Corp" in requests.get(gw.url + "/login", timeout=10).text
    back = web.get(to_callback(web, gw, provider_b, "alice", "/login/oidc"), timeout=10)
    assert back.url == gw.url + "/", back.url
    me = web.get(gw.url + "/api/v1/me", timeout=10).json()["user"]
    assert me["name"] == "alice"
    assert "alice" in _people(gw, "bianchi") and "alice" not in _people(gw, "default")

    # The default firm's alice comes from provider A, a person of her own.
    web_a = requests.Session()
    web_a.get(gw.url + "/login", timeout=10)
    assert web_a.get(to_callback(web_a, gw, provider_a, "alice", "/login/oidc"), timeout=10).url == gw.url + "/"
    assert web_a.get(gw.url + "/api/v1/me", timeout=10).json()["user"]["id"] != me["id"]
    assert "alice" in _people(gw, "default")


def test_an_answer_of_one_firms_provider_never_signs_in_at_another(two_firms):
    provider_a, provider_b, gw = two_firms
    web = requests.Session()
    web.get(gw.url + "/o/bianchi/login", timeout=10)
    answer_b = to_callback(web, gw, provider_b, "newcomer", "/login/oidc")
    # The same browser now begins a sign-in for the default firm, then brings B's answer back.
    web.get(gw.url + "/login", timeout=10)
    assert web.get(gw.url + "/login/oidc", allow_redirects=False, timeout=10).headers["Location"] \
        .startswith(provider_a.issuer)
    refused = web.get(answer_b, timeout=10)
    assert "Company sign-in did not work" in refused.text
    assert web.get(gw.url + "/api/v1/me", timeout=10).status_code == 401

    # B's answer in a browser that began nothing: refused as well.
    web_c = requests.Session()
    web_c.get(gw.url + "/o/bianchi/login", timeout=10)
    answer_b = to_callback(web_c, gw, provider_b, "newcomer", "/login/oidc")
    stranger = requests.Session()
    assert "Company sign-in did not work" in stranger.get(answer_b, timeout=10).text
    assert stranger.get(gw.url + "/api/v1/me", timeout=10).status_code == 401
    assert "newcomer" not in _people(gw, "default") + _people(gw, "bianchi")

    # The flow begun for B, finished: B's person, in B.
    assert web_c.get(answer_b, timeout=10).url == gw.url + "/"
    assert "newcomer" in _people(gw, "bianchi") and "newcomer" not in _people(gw, "default")


def test_a_firm_without_a_provider_has_no_button_and_no_flow(two_firms):
    _a, _b, gw = two_firms
    gw.cli("org", "add", "Verdi", "--slug", "verdi")
    web = requests.Session()
    assert "Sign in with" not in web.get(gw.url + "/o/verdi/login", timeout=10).text
    assert web.get(gw.url + "/login/oidc", allow_redirects=False, timeout=10).status_code == 404
    # Turned off: its button goes, and its secret with it.
    out = gw.cli("org", "signin", "bianchi", "--oidc-issuer", "")
    assert "oidc_client_secret_set\tFalse" in out
    assert "Sign in with" not in requests.get(gw.url + "/o/bianchi/login", timeout=10).text
