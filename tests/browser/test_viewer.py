"""Real Chromium: an employee logs in, opens their PC and sees its desktop."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, wait_js, watch_csp
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 700})
    page = context.new_page()
    page.console_messages = []
    page.on("console", lambda m: page.console_messages.append(f"{m.type}: {m.text}"))
    violations = watch_csp(page)
    yield page
    context.close()
    assert not violations, violations   # every page works under the gateway's CSP


def canvas_pixel(page, x: int, y: int) -> list[int]:
    return page.evaluate(
        """([x, y]) => {
            const c = document.querySelector('#screen canvas');
            return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data);
        }""", [x, y])


def test_employee_opens_desktop_in_browser(stack, page):
    stack.vnc.set_color("#2e8b57")
    login(page, stack.gateway.url, "emp", "emppass12")
    page.wait_for_selector(".tile.state-online")
    page.screenshot(path=str(ARTIFACTS / "portal-employee.png"))
    page.click(".tile .open")
    wait_js(page, "window.ponte && window.ponte.events.some(e => e.type === 'connect')", timeout=40000)  # a first visit loads 54 modules; the full suite keeps both cores busy
    # noVNC draws the first FramebufferUpdate right after 'connect'.
    wait_js(page,
        """() => { const c = document.querySelector('#screen canvas');
                   if (!c || !c.width) return false;
                   const d = c.getContext('2d').getImageData(5, 5, 1, 1).data;
                   return d[0] === 0x2e && d[1] === 0x8b && d[2] === 0x57; }""", timeout=15000)
    assert canvas_pixel(page, 5, 5)[:3] == [0x2E, 0x8B, 0x57]
    assert canvas_pixel(page, 300, 200)[:3] == [0x2E, 0x8B, 0x57]
    assert page.inner_text("#status") == "Connected"
    # The ticket went as a subprotocol, not in the URL (proxy logs); the gateway chose "binary".
    assert page.evaluate("window.ponte.socketUrl").endswith("/ws/view")
    assert page.evaluate("window.ponte.rfb._sock._websocket.protocol") == "binary"
    page.screenshot(path=str(ARTIFACTS / "viewer-connected.png"))

    # The desktop follows the X server: change it and watch the canvas change.
    stack.vnc.set_color("#ffcc00")
    wait_js(page,
        """() => { const d = document.querySelector('#screen canvas').getContext('2d').getImageData(5, 5, 1, 1).data;
                   return d[0] === 0xff && d[1] === 0xcc && d[2] === 0x00; }""", timeout=15000)

    page.click("#disconnect")
    wait_js(page, "document.querySelector('#status').textContent.startsWith('Disconnected')")


def test_employee_cannot_open_foreign_machine_page(stack, page):
    login(page, stack.gateway.url, "other", "otherpass1")
    page.wait_for_selector("h1")
    assert "No PC has been granted" in page.content()
    response = page.goto(stack.gateway.url + "/view/office-pc")
    assert response.status == 403
    assert "You may not open this PC" in page.content()
    page.screenshot(path=str(ARTIFACTS / "viewer-forbidden.png"))


def test_viewer_shows_why_the_pc_cannot_be_used(gateway_factory, agent_factory, vnc_factory, page):
    import dataclasses

    gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute")
    gw.add_user("emp", "emppass12")
    vnc = vnc_factory(password="rightpw1")
    # The agent holds the wrong VNC password: it must say so, not hang or crash.
    agent_factory(gw, "pc", dataclasses.replace(vnc, password="wrongpw1"), wait_online=False)
    gw.cli("grant", "emp", "pc")
    from tests.support import wait_for

    wait_for(lambda: gw.machine_state("pc") == "vnc_down", timeout=20, interval=0.3, what="agent reports VNC down")
    login(page, gw.url, "emp", "emppass12")
    page.wait_for_selector(".tile.state-vnc_down")
    tile = page.inner_text(".tile .status")
    assert "The PC's VNC password in Ponte is wrong — ask your admin." in tile, tile
    page.goto(gw.url + "/view/pc")
    wait_js(page, "document.querySelector('#status').textContent.includes('password')", timeout=45000)  # under the full suite's load
    text = page.inner_text("#status")
    assert "VNC password in Ponte is wrong — ask your admin" in text, text
    assert "127.0.0.1" not in text and "127.0.0.1" not in tile  # employees never see the internal address
    page.screenshot(path=str(ARTIFACTS / "viewer-vnc-refused.png"))
