"""Behind a TLS reverse proxy: Chromium logs in over https, gets Secure cookies and opens wss://."""

from __future__ import annotations

import pytest

from tests.agents.conftest import TLSTerminator, _make_tls
from tests.browser.conftest import login
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]


def test_desktop_over_https_and_wss(browser, gateway_factory, agent_factory, vnc_factory, tmp_path):
    gw = gateway_factory(PONTE_SECURE_COOKIES="1", PONTE_LOGIN_LIMIT="1000 per minute")
    gw.add_user("emp", "emppass12")
    vnc = vnc_factory()
    vnc.set_color("#16a085")
    agent_factory(gw, "pc", vnc)
    gw.cli("grant", "emp", "pc")
    (tmp_path / "tls").mkdir()
    proxy = TLSTerminator(_make_tls(tmp_path / "tls"), gw.port)
    try:
        url = f"https://127.0.0.1:{proxy.port}"
        context = browser.new_context(ignore_https_errors=True)  # the test CA is not in Chromium's store
        page = context.new_page()
        login(page, url, "emp", "emppass12")
        cookie = next(c for c in context.cookies() if c["name"] == "ponte_session")
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        page.goto(url + "/view/pc")
        page.wait_for_function("window.ponte && window.ponte.events.some(e => e.type === 'connect')",
                               timeout=20000)
        page.wait_for_function(
            """() => { const c = document.querySelector('#screen canvas');
                       if (!c || !c.width) return false;
                       const d = c.getContext('2d').getImageData(5, 5, 1, 1).data;
                       return d[0] === 0x16 && d[1] === 0xa0 && d[2] === 0x85; }""", timeout=15000)
        assert page.evaluate("window.ponte.socketUrl").startswith("wss://")
        page.screenshot(path=str(ARTIFACTS / "viewer-https.png"))
        context.close()
    finally:
        proxy.stop()
