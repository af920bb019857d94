"""The users list with 500 people in real Chromium (issue 13): search, sort and pages as an admin
uses them, at desktop and phone size, in English and Italian; every state is its own address
(reloading or bookmarking it shows the same list). Screenshots in test-artifacts/lists-*.png.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.conftest import ARTIFACTS, needs

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]

PEOPLE = 500
SIZES = {"desktop": {"width": 1024, "height": 768}, "phone": {"width": 390, "height": 844}}
WORDS = {"en": {"of": "of", "page": "Page 1 of 11", "search": "Search", "next": "Next →"},
         "it": {"of": "di", "page": "Pagina 1 di 11", "search": "Cerca", "next": "Successiva →"}}


@pytest.fixture(scope="module")
def crowd(stack, tmp_path_factory):
    """500 people more, through the gateway's own CSV import (one command, not 500)."""
    csv = tmp_path_factory.mktemp("crowd") / "people.csv"
    csv.write_text("name,display name,email,groups,pcs\n"
                   + "".join(f"person-{n:03d},Person {n},p{n}@example.org,,\n" for n in range(PEOPLE)))
    out = stack.gateway.cli("user", "import", str(csv))
    assert f"{PEOPLE} added" in out
    return stack


def _first_names(page) -> list[str]:
    return page.locator("#user-table tbody td:first-child a").all_inner_texts()


@pytest.mark.timeout(400)
@pytest.mark.parametrize("lang", ("en", "it"))
def test_an_admin_finds_sorts_and_pages_through_500_people(crowd, browser, lang):
    url, words = crowd.gateway.url, WORDS[lang]
    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport, locale={"it": "it-IT", "en": "en-US"}[lang])
        page = context.new_page()
        login(page, url, "boss", "bosspass12")
        page.goto(url + "/admin/users")
        if page.url.startswith(url + "/reauth"):
            page.fill("#password", "bosspass12")
            page.click("button[type=submit]")
        page.wait_for_selector("#user-table")
        assert page.inner_text(".count") == f"1–50 {words['of']} 503"
        assert words["page"] in page.inner_text("nav.pager")
        assert len(_first_names(page)) == 50

        page.click(f"nav.pager a:has-text('{words['next']}')")
        page.wait_for_url("**/admin/users?page=2")
        assert page.inner_text(".count") == f"51–100 {words['of']} 503"

        page.fill("#q", "person-1")
        page.click(f".listing-search button:has-text('{words['search']}')")
        page.wait_for_url("**/admin/users?q=person-1")
        assert page.inner_text(".count") == f"1–50 {words['of']} 100"   # person-100 … person-199
        page.locator("#user-table thead a.sort").first.click()             # by name, the other way
        page.wait_for_url("**/admin/users?q=person-1&dir=desc")
        assert _first_names(page)[0] == "person-199"
        assert page.get_attribute("#user-table thead th:first-child", "aria-sort") == "descending"
        page.screenshot(path=str(ARTIFACTS / f"lists-{lang}-{size}-users.png"), full_page=size == "desktop")

        bookmarked = page.url
        fresh = context.new_page()
        fresh.goto(bookmarked)
        assert _first_names(fresh)[:3] == ["person-199", "person-198", "person-197"]
        assert fresh.input_value("#q") == "person-1"
        fresh.close()

        page.goto(url + "/admin/machines")
        page.screenshot(path=str(ARTIFACTS / f"lists-{lang}-{size}-pcs.png"), full_page=size == "desktop")
        context.close()
