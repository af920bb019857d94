"""Real Chromium (issue 14): an admin lets employees share; an employee creates a link from the
viewer's Share dialog; a guest without an account opens it, sees the PC, and is ended when the
employee revokes the link."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, wait_js, watch_csp
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]


@pytest.fixture
def pages(browser):
    made, violations = [], []

    def new_page(**kwargs):
        context = browser.new_context(viewport={"width": 1100, "height": 760}, **kwargs)
        page = context.new_page()
        violations.extend([])  # one list for every page of the test
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        made.append(context)
        return page

    yield new_page
    for context in made:
        context.close()
    assert not violations, violations   # every page works under the gateway's CSP


def _connected_colour(page, rgb) -> None:
    try:
        wait_js(page, "window.ponte && window.ponte.events.some(e => e.type === 'connect')", timeout=40000)
    except TimeoutError as exc:
        raise AssertionError(f"not connected: {page.inner_text('#status')!r}, "
                             f"{page.evaluate('JSON.stringify(window.ponte && window.ponte.events)')}") from exc
    wait_js(page, f"""() => {{ const c = document.querySelector('#screen canvas');
                   if (!c || !c.width) return false;
                   const d = c.getContext('2d').getImageData(5, 5, 1, 1).data;
                   return d[0] === {rgb[0]} && d[1] === {rgb[1]} && d[2] === {rgb[2]}; }}""", timeout=15000)


def test_employee_shares_from_the_viewer_and_a_guest_watches_until_revoked(stack, pages):
    url = stack.gateway.url
    stack.vnc.set_color("#8e44ad")
    admin = pages()
    login(admin, url, "boss", "bosspass12")
    admin.goto(url + "/admin/settings")
    admin.click("#share-setting button[type=submit]")
    admin.wait_for_selector("text=Employees may share the PCs granted to them")

    emp = pages()
    login(emp, url, "emp", "emppass12")
    emp.goto(url + "/view/office-pc")
    _connected_colour(emp, (0x8E, 0x44, 0xAD))
    emp.click("#share-open")
    emp.select_option("#share-mode", "control")
    emp.select_option("#share-minutes", "15")
    emp.fill("#share-uses", "1")
    emp.click("#share-create")
    link = wait_js(emp, "document.querySelector('#share-url').textContent")
    assert "/share/" in link
    emp.wait_for_selector("#share-links li[data-share] button")
    assert "0 of 1 used: active" in emp.inner_text("#share-links")
    emp.screenshot(path=str(ARTIFACTS / "share-dialog.png"))

    guest = pages(locale="it-IT", extra_http_headers={"Accept-Language": "it"})
    guest.goto(link)
    assert "emp condivide con Lei il PC office-pc" in guest.inner_text("h1")
    assert "tastiera e mouse" in guest.inner_text("#share-mode")
    assert guest.evaluate("document.querySelector('meta[name=referrer]').content") == "no-referrer"
    guest.screenshot(path=str(ARTIFACTS / "share-guest-page.png"))
    guest.click("#share-open")
    guest.wait_for_url("**/share/view")
    _connected_colour(guest, (0x8E, 0x44, 0xAD))
    assert guest.query_selector("#share-dialog") is None      # a guest shares nothing on
    assert guest.evaluate("window.ponte.socketUrl").endswith("/ws/view")
    guest.screenshot(path=str(ARTIFACTS / "share-guest-viewer.png"))
    # the guest went nowhere else: the portal wants a login
    other = guest.context.new_page()
    other.goto(url + "/")
    assert "/login" in other.url
    other.close()

    # the link is used up now, and the employee revokes it: the guest's session ends
    emp.click("#share-links li[data-share] button")   # the list refreshes when the dialog opens
    wait_js(emp, "document.querySelector('#share-links').textContent.includes('revoked')")
    wait_js(guest, "window.ponte.events.some(e => e.type === 'ended')", timeout=20000)
    assert "revocato" in guest.inner_text("#status")   # the end reason in the guest's language
    guest.screenshot(path=str(ARTIFACTS / "share-guest-revoked.png"))
    # the employee's own session is untouched
    assert emp.inner_text("#status") == "Connected"
