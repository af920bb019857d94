"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def login(page, url: str, user: str, password: str) -> None:
    """Log in through the real form, as a person would."""
    page.goto(url + "/login")
    page.fill("#name", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("h1")


def watch_csp(page) -> list[str]:
    """Collect the Content-Security-Policy violations Chromium reports on ``page`` (console)."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    return seen


def wait_js(page, predicate: str, timeout: float = 30000, interval: float = 100):
    """``page.wait_for_function`` for pages under our CSP.

    Playwright's wait_for_function compiles its predicate with ``eval`` inside the
    page, which ``script-src 'self'`` (no 'unsafe-eval') rightly refuses; ``evaluate``
    goes through the DevTools protocol, which CSP does not govern. ``predicate`` is a
    JavaScript expression or arrow function; returns its first truthy value.
    """
    import time

    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout / 1000:.0f} s waiting for {predicate!r}")
        page.wait_for_timeout(interval)
