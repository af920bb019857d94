"""Behind a TLS reverse proxy: Chromium logs in over https, gets Secure cookies and opens wss://."""

from __future__ import annotations

import pytest

from tests.agents.conftest import TLSTerminator, _make_tls
from tests.browser.conftest import login, wait_js, watch_csp
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]


def test_desktop_over_https_and_wss(browser, gateway_factory, agent_factory, vnc_factory, tmp_path):
    (tmp_path / "tls").mkdir()
    proxy = TLSTerminator(_make_tls(tmp_path / "tls"), 0)   # its backend is set once the gateway listens
    try:
        # public_url as a deployment behind TLS sets it: the https origin browsers send is the one allowed.
        gw = gateway_factory(PONTE_SECURE_COOKIES="1", PONTE_LOGIN_LIMIT="1000 per minute",
                             PONTE_PUBLIC_URL=f"https://127.0.0.1:{proxy.port}")
        proxy.backend_port = gw.port
        gw.add_user("emp", "emppass12")
        vnc = vnc_factory()
        vnc.set_color("#16a085")
        agent_factory(gw, "pc", vnc)
        gw.cli("grant", "emp", "pc")
        url = f"https://127.0.0.1:{proxy.port}"
        context = browser.new_context(ignore_https_errors=True)  # the test CA is not in Chromium's store
        page = context.new_page()
        violations = watch_csp(page)
        login(page, url, "emp", "emppass12")
        cookie = next(c for c in context.cookies() if c["name"] == "ponte_session")
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        page.goto(url + "/view/pc")
        wait_js(page, "window.ponte && window.ponte.events.some(e => e.type === 'connect')",
                timeout=20000)
        wait_js(page,
            """() => { const c = document.querySelector('#screen canvas');
                       if (!c || !c.width) return false;
                       const d = c.getContext('2d').getImageData(5, 5, 1, 1).data;
                       return d[0] === 0x16 && d[1] === 0xa0 && d[2] === 0x85; }""", timeout=15000)
        assert page.evaluate("window.ponte.socketUrl").startswith("wss://")
        page.screenshot(path=str(ARTIFACTS / "viewer-https.png"))
        assert not violations, violations   # wss:// to the proxy's origin is allowed by connect-src
        context.close()
    finally:
        proxy.stop()
