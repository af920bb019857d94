"""Real Chromium (issue 13): the whole portal tile opens the PC, by mouse anywhere on it and by
the keyboard; an admin with no PC granted is told why, with a link to grant one; the admin's
Settings page. axe-core finds nothing on these pages, in English and Italian, at desktop and
phone size. Screenshots in test-artifacts/portal-tile-*.png, settings-*.png.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.browser.test_axe import AXE, RUN
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]

SIZES = {"desktop": {"width": 1024, "height": 768}, "phone": {"width": 390, "height": 844}}
LOCALES = {"en": "en-US", "it": "it-IT"}
WORDS = {"en": {"settings": "Settings", "grant": "Grant yourself a PC"},
         "it": {"settings": "Impostazioni", "grant": None}}


def _context(browser, lang: str, size: str):
    context = browser.new_context(viewport=SIZES[size], locale=LOCALES[lang])
    context.add_init_script(path=str(AXE))
    return context


def _clean(page, name: str) -> None:
    page.wait_for_load_state("load")
    page.wait_for_timeout(150)
    violations = page.evaluate(RUN)
    assert violations == [], (name, violations)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("lang", ("en", "it"))
def test_the_whole_tile_opens_the_pc(stack, browser, lang):
    url = stack.gateway.url
    for size in SIZES:
        context = _context(browser, lang, size)
        page = context.new_page()
        login(page, url, "emp", "emppass12")
        page.wait_for_selector(".tile.state-online")
        _clean(page, f"portal-{lang}-{size}")
        page.screenshot(path=str(ARTIFACTS / f"portal-tile-{lang}-{size}.png"), full_page=True)
        # A click on the tile's status line, away from its button, opens the PC: the mouse at
        # that spot, as a person clicks (Playwright's own click refuses: the link is on top, by design).
        box = page.locator(".tile .status .text").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        assert page.evaluate(f"document.elementFromPoint({x}, {y}).matches('.tile .open')")
        page.mouse.click(x, y)
        page.wait_for_url("**/view/**")
        page.go_back()
        page.wait_for_selector(".tile.state-online")
        # The keyboard: Tab reaches the tile's link, the tile shows it has the focus, Enter opens.
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.matches('.tile .open')"):
                break
        else:
            raise AssertionError("Tab never reached the tile")
        assert page.evaluate("getComputedStyle(document.querySelector('.tile')).outlineStyle") == "solid"
        page.screenshot(path=str(ARTIFACTS / f"portal-tile-{lang}-{size}-focus.png"))
        page.keyboard.press("Enter")
        page.wait_for_url("**/view/**")
        context.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("lang", ("en", "it"))
def test_an_admin_without_pcs_and_the_settings_page(stack, browser, lang):
    url = stack.gateway.url
    for size in SIZES:
        context = _context(browser, lang, size)
        page = context.new_page()
        login(page, url, "boss", "bosspass12")
        # boss has no PC granted: the portal says why and links to granting one.
        assert page.is_visible("#no-machines")
        link = page.locator("#no-machines a")
        if WORDS[lang]["grant"]:
            assert link.inner_text() == WORDS[lang]["grant"]
        _clean(page, f"portal-admin-{lang}-{size}")
        link.click()
        page.wait_for_url("**/admin/users/*")
        assert page.locator("#grant-machine, select[name=machine_id]").count() >= 1

        page.goto(url + "/admin/settings")
        assert page.inner_text("h1") == WORDS[lang]["settings"]
        assert page.get_attribute("nav.subnav a[aria-current=page]", "href") == "/admin/settings"
        _clean(page, f"settings-{lang}-{size}")
        page.screenshot(path=str(ARTIFACTS / f"settings-{lang}-{size}.png"), full_page=True)
        page.click("#settings-tokens a.button")
        page.wait_for_url("**/admin/tokens")
        assert page.get_attribute("nav.subnav a[aria-current=page]", "href") == "/admin/settings"
        context.close()
