"""axe-core (from npm, tests/support/axe) in real Chromium on every page a person or an admin
sees, in English and in Italian (issue 13): the login, error pages, the portal, the account
page and each admin page. A serious or critical violation fails the test; every finding of
any impact is written to test-artifacts/axe-<lang>.json, page by page.

axe is put in each page as a Playwright init script: it runs through the DevTools protocol,
so the pages' Content-Security-Policy (``script-src 'self'``) stays as it is in production.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import login
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]

AXE = Path(__file__).resolve().parents[1] / "support" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
FAILING = {"serious", "critical"}
#: The admin pages by name; the pages of one user, PC and group are reached from their lists.
ADMIN_PAGES = {"admin": "/admin/", "users": "/admin/users", "groups": "/admin/groups", "pcs": "/admin/machines",
               "sessions": "/admin/sessions", "history": "/admin/history", "audit": "/admin/audit",
               "tokens": "/admin/tokens", "factors": "/admin/factors", "invite": "/admin/signin/invite",
               "import": "/admin/signin/import", "settings": "/admin/settings"}
SCHEMES = ("light", "dark")
#: The page background in each scheme (style.css: --bg).
BODY = {"light": "rgb(244, 245, 247)", "dark": "rgb(20, 23, 29)"}

RUN = """async () => {
  const result = await window.axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })) }));
}"""


#: Pages also kept as screenshots (test-artifacts/axe-<lang>-<scheme>-<page>.png), to look at.
SHOTS = {"login", "404", "portal", "users", "pcs", "history", "audit", "pc", "settings"}


def _check(page, shot: str, found: dict, name: str) -> None:
    page.wait_for_load_state("load")
    page.wait_for_timeout(150)   # the page scripts' first paint (tiles, dates in local time)
    found[name] = page.evaluate(RUN)
    if name in SHOTS:
        page.screenshot(path=str(ARTIFACTS / f"axe-{shot}-{name}.png"), full_page=True)


def _tour(browser, url: str, lang: str, scheme: str) -> dict[str, list]:
    found: dict[str, list] = {}
    shot = f"{lang}-{scheme}"
    context = browser.new_context(viewport={"width": 1024, "height": 768}, color_scheme=scheme,
                                  locale={"it": "it-IT", "en": "en-US"}[lang])
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.goto(url + "/login")
    _check(page, shot, found, "login")
    # The scheme took: a dark page is checked as dark, not as the light one again.
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == BODY[scheme]
    page.goto(url + "/no-such-page")
    _check(page, shot, found, "404-logged-out")

    login(page, url, "emp", "emppass12")
    page.wait_for_selector(".tile")
    _check(page, shot, found, "portal")
    page.goto(url + "/account")
    _check(page, shot, found, "account")
    page.goto(url + "/admin/")
    _check(page, shot, found, "403")
    page.goto(url + "/no-such-page")
    _check(page, shot, found, "404")
    page.click("button:has-text('Log out'), button:has-text('Esci')")

    login(page, url, "boss", "bosspass12")
    for name, path in ADMIN_PAGES.items():
        page.goto(url + path)
        if page.url.startswith(url + "/reauth"):
            _check(page, shot, found, "reauth")
            page.fill("#password", "bosspass12")
            page.click("button[type=submit]")
            page.wait_for_selector("h1")
        _check(page, shot, found, name)
    for name, path, link in (("pc", "/admin/machines", "#machine-table a"), ("user", "/admin/users", "table a"),
                             ("group", "/admin/groups", "table a")):
        page.goto(url + path)
        if page.locator(link).count():
            page.locator(link).first.click()
            page.wait_for_selector("h1")
            _check(page, shot, found, name)
    context.close()
    return found


@pytest.mark.timeout(420)   # some 20 pages, each checked by axe in full, on a loaded 2-core machine
# Each language once and each colour scheme once (all four pairs took ~5 minutes of the suite):
# the pages' words differ by language, their colours by scheme, and the two are independent.
@pytest.mark.parametrize("lang, scheme", [("en", SCHEMES[0]), ("it", SCHEMES[1])])
def test_no_serious_accessibility_problem_on_any_page(stack, browser, lang, scheme):
    assert AXE.exists(), "make deps installs axe-core (tests/support/axe)"
    found = _tour(browser, stack.gateway.url, lang, scheme)
    (ARTIFACTS / f"axe-{lang}-{scheme}.json").write_text(json.dumps(found, indent=1, ensure_ascii=False))
    assert len(found) >= 18, sorted(found)
    problems = [f"{page}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
                for page, violations in found.items() for v in violations if v["impact"] in FAILING]
    assert not problems, "\n".join(problems)
