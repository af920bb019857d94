"""Company sign-in and invitations in real Chromium, with screenshots (ARTIFACTS/signin-*.png).

OpenID Connect: the login page's "Sign in with Example Corp" button, the provider's own
pages (a real ``oidc-provider`` under node), back to the portal. Invitation: the admin
invites a person, copies the link; the person chooses a password and logs in.
"""

from __future__ import annotations

import pytest
import requests

from tests.browser.conftest import login
from tests.conftest import ARTIFACTS, needs
from tests.support.oidc_provider import installed, start_company

pytestmark = [pytest.mark.browser, needs("chromium")]


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"signin-{name}.png"), full_page=True)


@pytest.mark.skipif(not installed(), reason="node or tests/support/oidc/node_modules missing")
def test_sign_in_with_company_account_in_chromium(browser, tmp_path, redis_server):
    provider, gw = start_company(tmp_path, redis_server, PONTE_OIDC_CREATE_USERS="1")
    try:
        gw.add_user("boss", "bosspass1", admin=True)
        gw.add_machine("sales-desk")
        api = requests.Session()
        api.headers["Authorization"] = "Bearer " + gw.cli("user", "token", "boss").strip()
        assert api.post(gw.url + "/api/v1/groups", json={"name": "sales-team"}, timeout=10).status_code == 201
        assert api.put(gw.url + "/api/v1/machines/sales-desk/group-grants/sales-team", timeout=10).ok
        context = browser.new_context()
        page = context.new_page()
        page.goto(gw.url + "/login")
        shot(page, "oidc-1-login")
        page.click("#signin-oidc")
        page.wait_for_url(provider.issuer + "/interaction/**")
        shot(page, "oidc-2-provider-login")
        page.fill("input[name=login]", "alice")
        page.fill("input[name=password]", "anything")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        if page.url.startswith(provider.issuer):   # the provider's consent page
            shot(page, "oidc-3-provider-consent")
            page.click("button[type=submit]")
        page.wait_for_url(gw.url + "/")
        shot(page, "oidc-4-portal")
        # Made just in time; the provider's groups claim put her in sales-team, whose PC she sees.
        assert "alice" in page.content() and "sales-desk" in page.content()
        members = {g["name"]: [m["name"] for m in g["members"]]
                   for g in api.get(gw.url + "/api/v1/groups", timeout=10).json()["groups"]}
        assert members["sales-team"] == ["alice"] and members["everyone"] == ["alice"]
        context.close()
    finally:
        gw.stop()
        provider.stop()


def test_invitation_and_import_in_chromium(browser, gateway_factory, tmp_path):
    gw = gateway_factory()
    gw.add_user("boss", "bosspass1", admin=True)
    gw.add_machine("desk-1")
    admin = browser.new_context()
    page = admin.new_page()
    login(page, gw.url, "boss", "bosspass1")
    page.goto(gw.url + "/admin/users")
    page.click("text=Invite a person")
    page.fill("#inv-name", "newbie")
    page.fill("#inv-display", "New Bie")
    shot(page, "invite-1-form")
    page.click("button:has-text('Invite')")
    page.wait_for_selector("#invite-link")
    shot(page, "invite-2-link")
    link = page.input_value("#invite-link")
    assert "/invite/" in link

    person = browser.new_context()
    them = person.new_page()
    them.goto(link)
    assert "newbie" in them.inner_text("section")
    them.fill("#password", "a-good-long-passphrase")
    them.fill("#again", "a-good-long-passphrase")
    shot(them, "invite-3-choose-password")
    them.click("button[type=submit]")
    them.wait_for_selector("text=Your password is set")
    shot(them, "invite-4-password-set")
    login(them, gw.url, "newbie", "a-good-long-passphrase")
    assert "Your PCs" in them.content()
    them.goto(link)
    assert "This link does not work" in them.content()
    person.close()

    csv = tmp_path / "people.csv"
    csv.write_text("name,display name,email,groups,PCs\nanna,Anna Alba,,staff,desk-1\nnewbie,Again,,,\n")
    page.goto(gw.url + "/admin/signin/import")
    page.set_input_files("#import-file", str(csv))
    page.click("button:has-text('Preview')")
    page.wait_for_selector("#import-rejected")
    assert "Line 3: user newbie exists already" in page.inner_text("#import-rejected")
    shot(page, "import-1-preview")
    page.click("#import-confirm")
    page.wait_for_selector("#import-links")
    shot(page, "import-2-links")
    assert "anna" in page.inner_text("#import-links")
    admin.close()
