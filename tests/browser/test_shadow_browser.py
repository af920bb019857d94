"""Real Chromium: an admin watches an employee's live session; the employee's viewer says so."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, wait_js, watch_csp
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]

CONNECTED = "window.ponte && window.ponte.events.some(e => e.type === 'connect')"


def test_an_admin_watches_and_the_person_sees_a_banner(stack, browser):
    contexts = [browser.new_context(viewport={"width": 1024, "height": 700}) for _ in range(2)]
    try:
        person, admin = (c.new_page() for c in contexts)
        violations = watch_csp(person) + watch_csp(admin)
        login(person, stack.gateway.url, "emp", "emppass12")
        person.wait_for_selector(".tile.state-online")
        person.click(".tile .open")
        wait_js(person, CONNECTED, timeout=40000)
        assert person.is_hidden("#notices")  # nobody else there: no banner

        login(admin, stack.gateway.url, "boss", "bosspass12")
        admin.goto(stack.gateway.url + "/admin/sessions")
        admin.click("text=Watch")
        wait_js(admin, CONNECTED, timeout=40000)
        assert admin.evaluate("window.ponte.rfb.viewOnly") is True  # noVNC sends nothing, the gateway drops anyway

        # The person's page polls its notices every 5 s.
        wait_js(person, "!document.querySelector('#notices').hidden", timeout=15000)
        assert person.inner_text("#notices") == "boss is watching"
        assert person.get_attribute("#notices", "role") == "status"
        person.screenshot(path=str(ARTIFACTS / "viewer-watched.png"))
        # The admin's page lists the person, with control.
        wait_js(admin, "!document.querySelector('#notices').hidden", timeout=15000)
        assert admin.inner_text("#notices") == "emp has control"

        admin.click("#disconnect")
        wait_js(person, "document.querySelector('#notices').hidden", timeout=15000)
        assert not violations, violations
    finally:
        for c in contexts:
            c.close()
