"""The sign-up in real Chromium (issue 17): the page's script solves the real proof-of-work
(default cost), the mailed link confirms, the provider approves from the queue.

Screenshots in test-artifacts/: the sign-up page on a phone in English and Italian
(signup-<lang>-phone.png), the provider's queue (signup-provider-queue.png), its page of
organisations after the approval (provider-organisations.png) and a firm's sign-in page there
(provider-firm-signin.png); axe-core on each (serious or critical findings fail), findings in
test-artifacts/axe-signup.json.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.conftest import login, watch_csp
from tests.browser.test_axe import AXE, FAILING, RUN
from tests.conftest import ARTIFACTS, needs
from tests.support.smtp import SMTPServer

pytestmark = [pytest.mark.browser, needs("chromium")]

PHONE = {"width": 390, "height": 844}
CONFIRM = re.compile(r"https?://[^/\s]+(/signup/confirm/[A-Za-z0-9_-]+)")


@pytest.fixture
def smtp():
    server = SMTPServer().start()
    yield server
    server.stop()


def _axe(page) -> list:
    page.wait_for_load_state("load")
    return page.evaluate(RUN)


@pytest.mark.timeout(300)
def test_sign_up_confirm_and_approve_in_chromium(browser, gateway_factory, smtp):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    settings = smtp.settings()
    gw = gateway_factory(PONTE_SIGNUP="1", PONTE_LOGIN_LIMIT="1000 per minute",
                         **{f"PONTE_{k.upper()}": str(v) for k, v in settings.items()})
    gw.add_user("boss", "bosspass12", admin=True)
    gw.cli("org", "operator", "boss")   # the provider's operator runs the queue
    found = {}

    for lang in ("it", "en"):
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2,
                                      locale={"it": "it-IT", "en": "en-US"}[lang])
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        csp = watch_csp(page)
        page.goto(gw.url + "/signup")
        heading = {"it": "Richiesta di accesso per la ditta", "en": "Request access for your firm"}[lang]
        assert page.locator("h1").inner_text() == heading
        found[f"signup-{lang}"] = _axe(page)
        page.screenshot(path=str(ARTIFACTS / f"signup-{lang}-phone.png"), full_page=True)
        assert not page.locator("#website").is_visible() or page.locator(".honeypot").bounding_box()["x"] < 0
        if lang == "en":
            page.fill("#firm", "Verdi Studio Associato")
            page.fill("#contact", "Luca Verdi")
            page.fill("#email", "luca@verdi.example")
            page.fill("#pcs", "4")
            page.click("button[type=submit]")
            page.wait_for_selector("h1:has-text('Check your e-mail')", timeout=120000)
            (_to, message), = smtp.mailbox.wait(timeout=30)
            path = CONFIRM.search(message.get_content()).group(1)
            page.goto(gw.url + path)
            page.click("button:has-text('Confirm')")
            page.wait_for_selector("h1:has-text('Request confirmed')")
            assert not csp, csp
        context.close()

    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-US")
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    login(page, gw.url, "boss", "bosspass12")
    page.click("header nav a:has-text('Firms asking for access')")
    row = page.locator("#signup-queue tbody tr")
    assert row.count() == 1 and "Verdi Studio Associato" in row.inner_text()
    found["provider-queue"] = _axe(page)
    page.screenshot(path=str(ARTIFACTS / "signup-provider-queue.png"), full_page=True)
    row.locator("button:has-text('Approve')").click()
    page.wait_for_selector(".flash.ok")
    assert "is approved" in page.locator(".flash.ok").inner_text()
    _confirmation, (to, invitation) = smtp.mailbox.wait(2, timeout=30)
    assert to == ("luca@verdi.example",) and invitation["Subject"] == "Your firm is on Ponte"

    # The provider's page of organisations: the new firm with its limit, sign-in and access switch.
    page.goto(gw.url + "/provider/")
    firm = page.locator("tbody tr", has_text="Verdi Studio Associato")
    assert firm.count() == 1 and "Password" in firm.inner_text()
    assert firm.locator("button:has-text('Disable')").is_visible()
    found["provider-organisations"] = _axe(page)
    page.screenshot(path=str(ARTIFACTS / "provider-organisations.png"), full_page=True)
    firm.locator("a:has-text('Change')").click()
    page.wait_for_selector("#org-signin-form")
    found["provider-firm-signin"] = _axe(page)
    page.screenshot(path=str(ARTIFACTS / "provider-firm-signin.png"), full_page=True)
    context.close()

    (ARTIFACTS / "axe-signup.json").write_text(json.dumps(found, indent=1, ensure_ascii=False))
    problems = [f"{name}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
                for name, violations in found.items() for v in violations if v["impact"] in FAILING]
    assert not problems, "\n".join(problems)
