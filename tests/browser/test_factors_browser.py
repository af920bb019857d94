"""Real Chromium: the account page, TOTP and passkeys (issue 12).

Passkeys use Chromium's virtual authenticator (Chrome DevTools Protocol ``WebAuthn.enable`` +
``WebAuthn.addVirtualAuthenticator``: a CTAP2 platform authenticator with resident keys and
user verification that answers by itself). The gateway is reached as ``localhost``: WebAuthn
refuses IP addresses as relying-party ids. TOTP codes are computed by pyotp from the secret the
page shows. Screenshots of each step go to ARTIFACTS (``factors-*.png``).
"""

from __future__ import annotations

from playwright.sync_api import Error as PlaywrightError

import re

import pyotp
import pytest

from tests.browser.conftest import login, wait_js, watch_csp
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs("chromium")]


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"factors-{name}.png"), full_page=True)


def new_page(browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.csp = watch_csp(page)
    return page


def virtual_authenticator(page) -> tuple[object, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    found = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return cdp, found["authenticatorId"]


def log_out(page) -> None:
    page.click("header button:has-text('Log out')")
    page.wait_for_selector("#name")


@pytest.fixture
def gw(gateway_factory):
    gw = gateway_factory()
    gw.add_user("boss", "bosspass12", admin=True)
    gw.add_user("emp", "emppass12")
    gw.localhost = gw.url.replace("127.0.0.1", "localhost")
    return gw


def test_passkey_registration_second_factor_and_passwordless(browser, gw):
    page = new_page(browser)
    cdp, authenticator = virtual_authenticator(page)
    url = gw.localhost
    try:
        login(page, url, "emp", "emppass12")
        page.click("header a.who")                       # the account page, from the header
        page.wait_for_selector("#passkey-add")
        shot(page, "1-account")
        page.fill("#passkey-name", "Work laptop")
        page.click("#passkey-add button")
        page.wait_for_selector("#recovery-codes")        # a first factor brings recovery codes
        codes = page.locator("#recovery-codes code").all_inner_texts()
        assert len(codes) == 10
        shot(page, "2-passkey-recovery-codes")
        page.click("text=I have saved them")
        page.wait_for_selector("#passkey-list")
        assert "Work laptop" in page.inner_text("#passkey-list")
        creds = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert len(creds) == 1 and creds[0]["isResidentCredential"]

        # -- the passkey as second factor after the password
        log_out(page)
        login(page, url, "emp", "emppass12")
        page.wait_for_selector("#passkey-login")
        assert page.url.endswith("/login/second-factor")
        shot(page, "3-second-factor")
        page.click("#passkey-login button")
        page.wait_for_selector("#machines, #no-machines", state="attached")
        assert page.url.rstrip("/") == url
        assert cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]["signCount"] >= 1

        # -- the admin allows passkeys instead of the password
        admin = new_page(browser)
        login(admin, url, "boss", "bosspass12")
        admin.goto(url + "/admin/factors")
        admin.check("input[name=passkey_login]")
        admin.click("#factor-policy button[type=submit]")
        admin.wait_for_selector(".flash.ok")
        shot(admin, "4-admin-policy")
        admin.context.close()

        log_out(page)
        page.wait_for_selector("#passkey-login")
        shot(page, "5-login-with-passkey-button")
        page.click("#passkey-login button")
        page.wait_for_selector("#machines, #no-machines", state="attached")
        assert page.url.rstrip("/") == url
        assert page.inner_text("header a.who") == "emp"

        # -- remove it again (password asked)
        page.goto(url + "/account")
        page.fill("input[id^=remove-pw-]", "emppass12")
        page.click("#passkey-list button:has-text('Remove')")
        page.wait_for_selector(".flash.ok")
        assert "None yet." in page.inner_text("#passkey-list")
        assert not page.errors and not page.csp, page.errors + page.csp
    finally:
        page.context.close()


def test_totp_setup_and_login_in_chromium(browser, gw):
    page = new_page(browser)
    url = gw.localhost
    try:
        login(page, url, "emp", "emppass12")
        page.goto(url + "/account")
        page.click("text=Set up an authenticator app")
        page.wait_for_selector("#totp-qr svg")
        secret = page.inner_text("#totp-secret").strip()
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        shot(page, "6-totp-setup")
        page.fill("#code", pyotp.TOTP(secret).now())
        page.click("button:has-text('Turn on')")
        page.wait_for_selector("#recovery-codes")
        shot(page, "7-totp-recovery-codes")
        page.click("text=I have saved them")

        log_out(page)
        login(page, url, "emp", "emppass12")
        assert page.url.endswith("/login/second-factor")
        page.fill("#code", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
        page.click("button:has-text('Go on')")
        page.wait_for_selector(".flash.error")
        shot(page, "8-totp-wrong-code")
        # the code of the next 30 s step: one-time codes never repeat the step accepted at set-up
        import time
        page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
        page.click("button:has-text('Go on')")
        page.wait_for_selector("#machines, #no-machines", state="attached")
        assert page.url.rstrip("/") == url
        assert not page.errors and not page.csp, page.errors + page.csp
    finally:
        page.context.close()


def test_policy_sends_a_person_to_set_up_a_factor(browser, gw):
    admin = new_page(browser)
    page = new_page(browser)
    url = gw.localhost
    try:
        login(admin, url, "boss", "bosspass12")
        admin.goto(url + "/admin/factors")
        admin.check("input[name=require][value=everyone]")
        admin.click("#factor-policy button[type=submit]")
        admin.wait_for_selector(".flash.ok")
        login(page, url, "emp", "emppass12")
        page.wait_for_selector("#setup-needed")
        assert page.url.endswith("/account")
        shot(page, "9-setup-required")
        page.goto(url + "/")
        assert page.url.endswith("/account")            # nothing else until a factor is on
        cdp, _ = virtual_authenticator(page)
        page.fill("#passkey-name", "Phone")
        page.click("#passkey-add button")
        page.wait_for_selector("#recovery-codes")
        page.goto(url + "/")
        wait_js(page, "() => !!document.getElementById('machines')")

        # -- a lost phone: the admin resets emp's factors; emp's login ends, set-up comes again
        admin.goto(url + "/admin/factors")
        row = admin.locator("#factor-people tr", has_text="emp")
        row.locator("input[name=confirm]").check()
        row.locator("button:has-text('Reset factors')").click()
        admin.wait_for_selector(".flash.ok")
        shot(admin, "10-admin-reset")
        page.goto(url + "/")
        assert "/login" in page.url
        login(page, url, "emp", "emppass12")
        page.wait_for_selector("#setup-needed")   # no factor left: straight to set-up again
        assert page.url.endswith("/account")
        assert not page.errors and not page.csp, page.errors + page.csp
        assert not admin.errors and not admin.csp, admin.errors + admin.csp
    finally:
        admin.context.close()
        page.context.close()


def test_password_change_and_recovery_code_login(browser, gw):
    page = new_page(browser)
    other = new_page(browser)
    url = gw.localhost
    try:
        login(page, url, "emp", "emppass12")
        login(other, url, "emp", "emppass12")
        page.click("header a.who")
        page.fill("#current", "emppass12")
        page.fill("#new", "correct horse battery")
        page.fill("#repeat", "correct horse battery")
        page.click("button:has-text('Change password')")
        page.wait_for_selector(".flash.ok")
        shot(page, "11-password-changed")
        try:
            other.goto(url + "/")
        except PlaywrightError as exc:  # its portal's own poll saw the 401 first and went to /login
            assert "ERR_ABORTED" in str(exc), exc
            other.wait_for_url("**/login**", timeout=15000)
        assert "/login" in other.url                     # the other browser is logged out
        page.goto(url + "/")
        assert page.url.rstrip("/") == url               # this one goes on

        page.goto(url + "/account")
        page.click("text=Set up an authenticator app")
        page.wait_for_selector("#totp-secret")
        page.fill("#code", pyotp.TOTP(page.inner_text("#totp-secret").strip()).now())
        page.click("button:has-text('Turn on')")
        code = page.locator("#recovery-codes code").first.inner_text()
        page.click("text=I have saved them")
        log_out(page)
        login(page, url, "emp", "correct horse battery")
        page.fill("#code", code)
        page.click("button:has-text('Go on')")
        page.wait_for_selector(".flash.info")
        assert "9 left" in page.inner_text(".flash.info")
        shot(page, "12-recovery-code-used")
        assert not page.errors and not page.csp, page.errors + page.csp
    finally:
        page.context.close()
        other.context.close()


def test_passkey_confirms_reauth_in_chromium(browser, gw):
    """/reauth for an admin with a passkey: the password, then the passkey, then back where they went."""
    import requests

    page = new_page(browser)
    cdp, authenticator = virtual_authenticator(page)
    url = gw.localhost
    try:
        login(page, url, "boss", "bosspass12")
        page.goto(url + "/account")
        page.fill("#passkey-name", "Admin key")
        page.click("#passkey-add button")
        page.wait_for_selector("#recovery-codes")
        page.click("text=I have saved them")
        page.wait_for_selector("#passkey-list")

        page.goto(url + "/reauth?next=/admin/")
        page.fill("#password", "bosspass12")
        page.click("button:has-text('Confirm')")
        page.wait_for_selector("#passkey-login")
        assert page.url.endswith("/reauth/second-factor")
        shot(page, "reauth-1-second-factor")
        page.click("#passkey-login button")
        page.wait_for_url(url + "/admin/")
        shot(page, "reauth-2-admin")
        token = gw.cli("user", "token", "boss").strip()
        events = requests.get(gw.url + "/api/v1/audit?action=reauth", headers={"Authorization": f"Bearer {token}"},
                              timeout=10).json()["audit"]
        assert [e["detail"] for e in events] == ["second factor: passkey Admin key"]
        assert not page.errors and not page.csp, page.errors + page.csp
    finally:
        page.context.close()
