"""Real Chromium: an admin watches an employee's live session; the employee's viewer says so."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, wait_js, watch_csp
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]

CONNECTED = "window.ponte && window.ponte.events.some(e => e.type === 'connect')"


# Its own stack (Xvnc, gateway, enrolled agent) and two logins and viewers: over the 180 s default
# on a loaded 2-core machine (it passes in ~120 s alone).
@pytest.mark.timeout(400)
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
        assert admin.is_hidden("#cad") and admin.is_hidden("#paste-open") and person.is_visible("#cad")

        # The person's page polls its notices every 5 s.
        wait_js(person, "!document.querySelector('#notices').hidden", timeout=15000)
        assert person.inner_text("#notices") == "boss is watching"
        assert person.get_attribute("#notices", "role") == "status"
        person.screenshot(path=str(ARTIFACTS / "viewer-watched.png"))
        # The admin's page lists the person, with control.
        wait_js(admin, "!document.querySelector('#notices').hidden", timeout=15000)
        assert admin.inner_text("#notices") == "emp has control"

        # A limit drawing near, as the relaying node writes it into the live record: a countdown.
        import time

        import redis

        from gateway.live import LiveStore

        store = LiveStore(redis.Redis.from_url(stack.gateway.redis_url), stack.gateway.extra_env["PONTE_REDIS_PREFIX"])
        session = person.evaluate("window.ponte.events.find(e => e.type === 'connect').session")
        assert store.session_notices(session, {"ends_at": round(time.time() + 125)})
        wait_js(person, "document.querySelector('#notices').textContent.includes('maximum length')", timeout=15000)
        first = person.inner_text("#notices")
        assert first.startswith("This session reaches its maximum length in 2:0"), first
        time.sleep(2.2)
        assert person.inner_text("#notices") != first  # it counts down between polls
        person.screenshot(path=str(ARTIFACTS / "viewer-limit-warning.png"))
        store.session_notices(session, {"ends_at": ""})  # the warning is off again

        admin.click("#disconnect")
        wait_js(person, "document.querySelector('#notices').hidden", timeout=15000)
        assert not violations, violations
    finally:
        for c in contexts:
            c.close()
