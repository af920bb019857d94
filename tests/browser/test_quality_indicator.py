"""Real Chromium: the viewer counts what noVNC decodes, reports it, and shows the session's quality
(issue 14): a grade in the toolbar, the numbers on hover (title) and for screen readers; admins see
the same figures live and in the history."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login, wait_js, watch_csp
from tests.conftest import ARTIFACTS, needs
from tests.support import WebClient, wait_for

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 700})
    page = context.new_page()
    violations = watch_csp(page)
    yield page
    context.close()
    assert not violations, violations


def test_the_indicator_shows_a_grade_with_the_numbers(stack, page):
    boss = WebClient(stack.gateway.url, "boss", "bosspass12")
    before = {r["id"] for r in boss.json("GET", "/api/v1/history")["history"]}
    login(page, stack.gateway.url, "emp", "emppass12")
    page.wait_for_selector(".tile.state-online")
    page.click(".tile .open")
    wait_js(page, "window.ponte && window.ponte.events.some(e => e.type === 'connect')", timeout=40000)
    assert page.is_hidden("#link-quality")   # nothing to say before the first report
    for colour in ("#102030", "#405060", "#708090"):   # screen changes: FramebufferUpdates to count
        stack.vnc.set_color(colour)
    # first report at 3 s; the relay writes its round trips every 5 s: graded by the second (13 s)
    wait_js(page, "window.ponte.quality && window.ponte.quality.grade", timeout=30000)
    q = page.evaluate("window.ponte.quality")
    assert q["grade"] == "good"   # loopback
    assert q["rtt_viewer_ms"] is not None and q["rtt_agent_ms"] is not None
    assert q["encoding"] in {"Tight", "ZRLE", "Hextile", "Raw", "CopyRect", "JPEG", "TightPNG", "Zlib", "RRE"}
    indicator = page.locator("#link-quality")
    assert indicator.is_visible()
    assert indicator.get_attribute("data-grade") == "good"
    assert indicator.locator(".label").inner_text() == "Good connection"
    page.hover("#link-quality")
    title = indicator.get_attribute("title")
    assert re.search(r"gateway \d+ ms, gateway ⇄ PC \d+ ms", title), title
    assert "kbit/s" in title
    # screen readers get the same numbers (hidden text, after the grade)
    assert indicator.locator(".sr").text_content() == f": {title}"
    page.screenshot(path=str(ARTIFACTS / "viewer-quality.png"))

    # Admins see the figures while it runs, and the viewer's frame rate reached the live record.
    rows = boss.json("GET", "/api/v1/sessions")["sessions"]
    live = next(r for r in rows if r["user"] == "emp" and r["state"] == "live")
    assert live["quality"]["rtt_viewer_ms"] is not None and live["quality"]["fps"] is not None
    _s, _h, html = boss.http.request("GET", "/admin/sessions")
    assert "Round trip: viewer" in html.decode()

    page.click("#disconnect")
    wait_js(page, "document.querySelector('#status').textContent.startsWith('Disconnected')")
    assert page.is_hidden("#link-quality")
    row = wait_for(lambda: next((r for r in boss.json("GET", "/api/v1/history")["history"]
                                 if r["id"] not in before and r["end_reason"]), None),
                   timeout=10, what="the session's history row")
    assert row["rtt_viewer_ms"] is not None and row["rtt_agent_ms"] is not None
    assert row["fps"] is not None and row["fps"] > 0 and row["encoding"] == q["encoding"]
