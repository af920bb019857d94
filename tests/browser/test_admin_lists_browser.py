"""The users list with 500 people in real Chromium (issue 13): search, sort and pages as an admin
uses them, at desktop and phone size, in English and Italian; every state is its own address
(reloading or bookmarking it shows the same list). With 500 PCs too: a bulk grant of 100 people
(two pages ticked "all on this page") in one request each, axe-core clean. Screenshots in
test-artifacts/lists-*.png and bulk-*.png.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import login
from tests.browser.test_axe import AXE, RUN
from tests.conftest import ARTIFACTS, needs
from tests.support import WebClient

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]

PEOPLE = 500
PCS = 500
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


@pytest.fixture(scope="module")
def many_pcs(crowd):
    """500 PCs more, through the admin API as a script would add them."""
    admin = WebClient(crowd.gateway.url, "boss", "bosspass12")
    for n in range(PCS):
        admin.json("POST", "/api/v1/machines", json_body={"name": f"pc-{n:03d}"})
    return crowd


def _first_names(page) -> list[str]:
    return page.locator("#user-table tbody td:nth-child(2) a").all_inner_texts()


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
        assert page.get_attribute("#user-table thead th:nth-child(2)", "aria-sort") == "descending"
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


BULK = {"en": {"apply": "Apply to the ticked people", "ticked": "Ticked: 50",
               "done": "50 more people may now open pc-321."},
        "it": {"apply": "Applica alle persone selezionate", "ticked": "Selezionati: 50",
               "done": "Altre 50 persone possono ora aprire pc-321."}}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("lang", ("en", "it"))
def test_an_admin_grants_a_pc_to_100_people_from_the_list(many_pcs, browser, lang):
    url, words = many_pcs.gateway.url, BULK[lang]
    context = browser.new_context(viewport=SIZES["desktop"], locale={"it": "it-IT", "en": "en-US"}[lang])
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    login(page, url, "boss", "bosspass12")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    pc = "pc-321" if lang == "en" else "pc-322"
    words = {k: v.replace("pc-321", pc) for k, v in words.items()}
    for listed in ("/admin/users?q=person-", "/admin/users?q=person-&page=2"):
        page.goto(url + listed)
        if page.url.startswith(url + "/reauth"):
            page.fill("#password", "bosspass12")
            page.click("button[type=submit]")
            page.wait_for_url("**" + listed)
        page.check("input[data-tick-all=user_id]")                     # everyone on this page
        assert page.inner_text("[data-ticked-count=user_id]") == words["ticked"]
        assert page.locator("input[name=user_id]:checked").count() == 50
        page.select_option("#bulk-machine", label=pc)
        page.click(f"button:has-text('{words['apply']}')")
        page.wait_for_selector(".flash")
        assert words["done"] in page.inner_text("main"), page.inner_text("main")
    assert sum("/admin/users/bulk" in p for p in posts) == 2   # one request per 50 people ticked
    assert page.url.endswith("/admin/users?q=person-&page=2")  # back on the same page of the list
    violations = page.evaluate(RUN)
    assert violations == [], violations
    page.screenshot(path=str(ARTIFACTS / f"bulk-{lang}-users.png"), full_page=True)
    machine = WebClient(url, "boss", "bosspass12").json("GET", f"/api/v1/machines/{pc}")["machine"]
    assert len(machine["grants"]["users"]) == 100, machine["grants"]

    page.goto(url + "/admin/machines?q=pc-")
    page.check("input[data-tick-all=machine_id]")
    page.select_option("#bulk-holder", label="other")
    page.screenshot(path=str(ARTIFACTS / f"bulk-{lang}-pcs.png"), full_page=True)
    page.click("#bulk-machines button[type=submit]")
    page.wait_for_selector(".flash")
    assert page.evaluate(RUN) == []
    mine = WebClient(url, "other", "otherpass1").json("GET", "/api/v1/me/machines")["machines"]
    assert len(mine) == 50
    context.close()
