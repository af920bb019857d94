"""Real Chromium on the real stack (issue 13, the viewer): the state overlay and its next action
while no desktop shows, the controls disabled meanwhile, Ctrl+Alt+Del's feedback, the full-screen
toolbar that slides away and back, the phone's one-row toolbar with its More menu, keyboard and
gesture hint, the clipboard both ways without the dialog, and axe on the viewer in both languages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser.conftest import login, wait_js
from tests.conftest import ARTIFACTS, needs
from tests.support import wait_for

pytestmark = [pytest.mark.browser, needs("chromium", "Xvnc")]

AXE = Path(__file__).resolve().parents[1] / "support" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
LIVE_CONTROLS = ("#paste-open", "#cad", "#fullscreen")
LOCALES = {"en": "en-US", "it": "it-IT"}


@pytest.fixture
def new_page(browser):
    made, violations = [], []

    def make(**kwargs):
        kwargs.setdefault("viewport", {"width": 1024, "height": 700})
        context = browser.new_context(**kwargs)
        page = context.new_page()
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        made.append(context)
        return page

    yield make
    for context in made:
        context.close()
    assert not violations, violations   # every page works under the gateway's CSP


def connected(page, timeout: float = 40000) -> None:
    try:
        wait_js(page, "window.ponte && window.ponte.rfb && document.querySelector('#shell').dataset.state === 'connected'",
                timeout=timeout)  # a first visit loads some 60 modules; other tests keep both cores busy
    except TimeoutError as exc:
        raise AssertionError(f"not connected: {page.inner_text('#status')!r} {getattr(page, 'errors', '')}") from exc


def state(page) -> str:
    return page.evaluate("document.querySelector('#shell').dataset.state")


def disabled(page) -> dict[str, bool]:
    return {sel: page.is_disabled(sel) for sel in LIVE_CONTROLS}


def x_tool(vnc, code: str, *args: str, **kwargs) -> subprocess.Popen:
    """A Tk client on the PC's X display (the test machine has no xclip/xsel; Tk owns and reads
    the CLIPBOARD selection as any X application does)."""
    return subprocess.Popen([sys.executable, "-c", code, *args], env=vnc.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


COPY_ON_PC = """import sys, tkinter
root = tkinter.Tk(); root.withdraw(); root.clipboard_clear(); root.clipboard_append(sys.argv[1]); root.update()
root.after(30000, root.destroy); root.mainloop()"""
READ_ON_PC = """import tkinter
root = tkinter.Tk(); root.withdraw()
try: print(root.clipboard_get())
except tkinter.TclError: print('')"""


def pc_clipboard(vnc) -> str:
    proc = x_tool(vnc, READ_ON_PC)
    out, err = proc.communicate(timeout=20)
    return out.rstrip("\n")


def test_the_overlay_says_what_happens_and_offers_the_next_step(gateway_factory, agent_factory, vnc_factory,
                                                                new_page):
    gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute")
    gw.add_user("emp", "emppass12")
    vnc = vnc_factory(geometry="640x480")
    agent = agent_factory(gw, "pc", vnc)
    gw.cli("grant", "emp", "pc")
    page = new_page()
    login(page, gw.url, "emp", "emppass12")
    page.goto(gw.url + "/view/pc")
    # Before the session runs: the overlay and the live controls off (as the page is served).
    connected(page)
    events = page.evaluate("window.ponte.events.filter(e => e.type === 'state').map(e => e.state)")
    assert events[:2] == ["connecting", "connected"], events
    assert page.is_hidden("#overlay")
    assert not any(disabled(page).values()), disabled(page)
    assert page.inner_text("#status") == "Connected"
    assert page.is_hidden("#keyboard") and page.is_hidden("#touch-hint")   # no touch screen here

    page.click("#cad")
    page.wait_for_selector("#toast:not([hidden])")
    assert page.inner_text("#toast") == "Sent Ctrl+Alt+Del"
    page.wait_for_selector("#toast", state="hidden", timeout=10000)   # for a moment only

    # The agent dies: the session drops and the PC is offline; the overlay says so, with a button.
    agent.proc.kill()
    wait_js(page, "document.querySelector('#shell').dataset.state === 'offline'", timeout=30000)
    assert page.is_visible("#overlay")
    assert page.inner_text("#overlay-title") == "The PC is not available"
    assert "offline" in page.inner_text("#overlay-detail").lower(), page.inner_text("#overlay-detail")
    page.wait_for_selector("#reconnect:not([hidden])")
    assert page.inner_text("#reconnect") == "Reconnect now"
    assert page.is_visible("#back-to-pcs") and page.inner_text("#back-to-pcs") == "Back to my PCs"
    assert all(disabled(page).values()), disabled(page)
    page.screenshot(path=str(ARTIFACTS / "viewer-state-offline.png"))

    agent.proc.wait(10)
    agent.start()
    try:
        wait_for(lambda: gw.machine_state("pc") in ("online", "in_use"), timeout=60, interval=0.3,
                 what="agent back online")
    except TimeoutError:
        raise AssertionError(agent.log_text()[-3000:]) from None
    # The countdown may have reconnected already; else the button does it now.
    page.evaluate("document.querySelector('#reconnect:not([hidden])')?.click()")
    connected(page)
    assert page.is_hidden("#overlay") and page.is_hidden("#reconnect")

    # Disconnect: "Disconnected", with Connect again and the way back to the PC list.
    page.click("#disconnect")
    wait_js(page, "document.querySelector('#shell').dataset.state === 'stopped'")
    assert page.inner_text("#overlay-title") == "Disconnected"
    assert page.inner_text("#reconnect") == "Connect again"
    assert page.is_visible("#back-to-pcs")
    assert page.is_hidden("#toast")   # nothing stale from the connected state
    assert all(disabled(page).values()), disabled(page)
    page.screenshot(path=str(ARTIFACTS / "viewer-state-disconnected.png"))
    page.click("#reconnect")
    connected(page)


def test_full_screen_toolbar_slides_away_and_comes_back_at_the_top_edge(stack, new_page):
    page = new_page()
    login(page, stack.gateway.url, "emp", "emppass12")
    page.goto(stack.gateway.url + "/view/office-pc")
    connected(page)
    assert page.inner_text("#scale") == "Fit to window" and page.get_attribute("#scale", "aria-pressed") == "true"
    page.click("#scale")
    assert page.inner_text("#scale") == "Actual size" and page.get_attribute("#scale", "aria-pressed") == "false"
    assert "Actual size" in page.get_attribute("#scale", "aria-label")
    page.click("#scale")
    assert page.inner_text("#scale") == "Fit to window" and page.get_attribute("#scale", "aria-pressed") == "true"

    page.click("#fullscreen")
    wait_js(page, "document.fullscreenElement && document.fullscreenElement.id === 'shell'")
    # the label follows the fullscreenchange event, dispatched just after fullscreenElement is set
    wait_js(page, "document.querySelector('#fullscreen').textContent === 'Exit full screen'", timeout=5000)
    assert page.get_attribute("#fullscreen", "aria-pressed") == "true"
    page.mouse.move(500, 400)   # off the toolbar, onto the desktop
    wait_js(page, "document.querySelector('#shell').classList.contains('toolbar-away')", timeout=10000)
    page.wait_for_timeout(400)   # the slide
    box = page.locator("#toolbar").bounding_box()
    assert box["y"] + box["height"] <= 1, box   # off the screen: the desktop has it all
    assert page.is_visible("#toolbar-reveal")
    page.screenshot(path=str(ARTIFACTS / "viewer-fullscreen-toolbar-away.png"))

    page.mouse.move(500, 1)     # the top edge
    wait_js(page, "!document.querySelector('#shell').classList.contains('toolbar-away')", timeout=5000)
    page.wait_for_timeout(400)
    assert page.locator("#toolbar").bounding_box()["y"] >= 0
    page.screenshot(path=str(ARTIFACTS / "viewer-fullscreen-toolbar-back.png"))
    page.mouse.move(500, 400)
    wait_js(page, "document.querySelector('#shell').classList.contains('toolbar-away')", timeout=10000)
    page.click("#toolbar-reveal")   # the tab, for touch and keyboard
    wait_js(page, "!document.querySelector('#shell').classList.contains('toolbar-away')", timeout=5000)
    page.click("#fullscreen")
    wait_js(page, "!document.fullscreenElement")
    wait_js(page, "document.querySelector('#fullscreen').textContent === 'Full screen'", timeout=5000)


@pytest.mark.parametrize("lang", ["en", "it"])
def test_phone_toolbar_is_one_row_with_a_more_menu_keyboard_and_a_hint(stack, new_page, lang, tmp_path):
    page = new_page(viewport=PHONE, has_touch=True, is_mobile=True, locale=LOCALES[lang])
    login(page, stack.gateway.url, "emp", "emppass12")
    page.goto(stack.gateway.url + "/view/office-pc")
    connected(page)
    height = page.locator("#toolbar").bounding_box()["height"]
    (ARTIFACTS / f"viewer-phone-{lang}-toolbar.txt").write_text(f"{height}\n")   # the figure, for the report
    assert height <= 56, height   # it was ~290 of 844 px before it had one row
    assert page.get_attribute("#more", "aria-expanded") == "false"
    assert page.is_hidden("#cad") and page.is_visible("#more") and page.is_visible("#keyboard")
    assert page.is_visible("#touch-hint")
    page.screenshot(path=str(ARTIFACTS / f"viewer-phone-{lang}.png"))
    page.click("#more")
    assert page.get_attribute("#more", "aria-expanded") == "true"
    assert page.is_visible("#cad") and page.is_visible("#disconnect") and page.is_visible("#scale")
    page.screenshot(path=str(ARTIFACTS / f"viewer-phone-{lang}-more.png"))
    page.click("#cad")   # a choice closes the menu, and says it was sent
    assert page.get_attribute("#more", "aria-expanded") == "false"
    assert page.is_visible("#toast")
    page.wait_for_selector("#toast", state="hidden", timeout=10000)

    # The keyboard: a hidden field takes the phone's keys, and they reach the PC.
    log = tmp_path / "xev.txt"
    xev = subprocess.Popen(["xev", "-root", "-event", "keyboard"], env=stack.vnc.env, stdout=open(log, "w"),
                           stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        page.tap("#keyboard")
        assert page.evaluate("document.activeElement.id") == "touch-keys"
        page.keyboard.type("kz")
        page.keyboard.press("Enter")
        wait_for(lambda: all(k in log.read_text() for k in ("keysym 0x6b, k", "keysym 0x7a, z", "Return")),
                 timeout=10, what="the phone's keys on the PC")
        assert page.evaluate("document.querySelector('#touch-keys').value") == ""
    finally:
        xev.terminate()
        xev.wait(5)

    # The gesture hint: once; dismissed, it stays away.
    page.click("#touch-hint-close")
    assert page.is_hidden("#touch-hint")
    page.reload()
    connected(page)
    assert page.is_hidden("#touch-hint")


def test_clipboard_both_ways_without_the_dialog(stack, new_page):
    origin = stack.gateway.url
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    login(page, origin, "emp", "emppass12")
    page.goto(origin + "/view/office-pc")
    connected(page)

    # Copied on the PC → this computer's clipboard.
    owner = x_tool(stack.vnc, COPY_ON_PC, "copied on the PC 42")
    try:
        wait_js(page, "window.ponte.events.some(e => e.type === 'clipboard-from-pc')", timeout=20000)
        assert page.evaluate("navigator.clipboard.readText()") == "copied on the PC 42"
        assert page.input_value("#paste-text") == "copied on the PC 42"   # the dialog has it too
    finally:
        owner.terminate()
        owner.wait(5)

    # Copied here → the PC's clipboard, as soon as the desktop gets focus again.
    page.evaluate("navigator.clipboard.writeText('copied in the browser 7')")
    page.focus("#quality")      # away from the desktop…
    page.click("#screen")       # …and back
    wait_js(page, "window.ponte.events.some(e => e.type === 'clipboard-to-pc')", timeout=10000)
    wait_for(lambda: pc_clipboard(stack.vnc) == "copied in the browser 7", timeout=15, interval=0.5,
             what="the browser's text on the PC's clipboard")
    # It does not bounce: the PC's answer is that same text, not sent back again.
    page.wait_for_timeout(1000)
    assert page.evaluate("window.ponte.events.filter(e => e.type === 'clipboard-to-pc').length") == 1


RUN_AXE = """async () => {
  const result = await window.axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
}"""


@pytest.mark.parametrize("lang", ["en", "it"])
def test_the_viewer_has_no_accessibility_violation_in_either_language(stack, browser, lang):
    assert AXE.exists(), "make deps installs axe-core (tests/support/axe)"
    found = {}
    for name, viewport in (("desktop", {"width": 1024, "height": 768}), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, locale=LOCALES[lang], has_touch=name == "phone")
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        login(page, stack.gateway.url, "emp", "emppass12")
        page.goto(stack.gateway.url + "/view/office-pc")
        connected(page)
        assert page.get_attribute("html", "lang") == lang
        found[f"{name}-connected"] = page.evaluate(RUN_AXE)
        if name == "phone":
            page.click("#more")
            found["phone-more"] = page.evaluate(RUN_AXE)
            page.click("#disconnect")
        else:
            page.click("#disconnect")
        wait_js(page, "document.querySelector('#shell').dataset.state === 'stopped'")
        found[f"{name}-disconnected"] = page.evaluate(RUN_AXE)
        page.screenshot(path=str(ARTIFACTS / f"viewer-axe-{lang}-{name}-disconnected.png"))
        context.close()
    (ARTIFACTS / f"axe-viewer-{lang}.json").write_text(json.dumps(found, indent=1, ensure_ascii=False))
    assert not any(found.values()), json.dumps(found, indent=1)
