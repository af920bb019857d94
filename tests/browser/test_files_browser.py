"""Real Chromium: files dropped on the viewer's desktop reach the PC's upload folder, a file
picked from the Files panel downloads, and Cancel stops an upload (issue 15, Files). Real
gateway and agent."""

from __future__ import annotations

import json
import time

import pytest

from tests.browser.conftest import login, wait_js
from tests.conftest import needs
from tests.e2e.test_files import audit_rows, files_stack  # noqa: F401 (files_stack: a fixture)
from tests.support import wait_for
from tests.support.faultproxy import FaultProxy

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs("chromium")]

DROP = """async ([name, size]) => {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7) & 0xff;
  const dt = new DataTransfer();
  dt.items.add(new File([data], name, { type: 'application/octet-stream' }));
  const screen = document.getElementById('screen');
  screen.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
  screen.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
}"""


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 700}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def test_drop_on_the_desktop_uploads_and_the_panel_downloads(files_stack, page, tmp_path):  # noqa: F811
    gw, _agent, inbox, shared = files_stack
    (shared / "from-pc.txt").write_bytes(b"hello from the office PC\n")
    login(page, gw.url, "emp", "emppass12")
    page.goto(gw.url + "/view/office-pc")
    page.wait_for_selector("#files-open:not([hidden])")

    size = 300_000
    page.evaluate(DROP, ["dropped ../x.bin", size])
    event = wait_js(page, "() => window.ponte.events.find((e) => e.type === 'file' && e.op === 'upload')")
    assert event["outcome"] == "ok", event
    assert event["name"] == "x.bin"  # the agent kept the last component only
    assert (inbox / "x.bin").read_bytes() == bytes((i * 7) & 0xFF for i in range(size))
    assert "Saved on the PC as x.bin" in page.inner_text("#files-transfers")
    row = next(r for r in audit_rows(gw, "file.upload") if '"x.bin"' in r["detail"])  # the dropped file audited
    assert (row["actor"], row["target"]) == ("emp", "office-pc")
    # the name the browser gave, beside the one the PC saved it as (an admin sees what was asked)
    assert json.loads(row["detail"]) == {"name": "x.bin", "asked": "dropped ../x.bin", "size": size, "outcome": "ok"}

    wait_js(page, "() => window.ponte.events.some((e) => e.type === 'files-listed')")
    row = page.locator("#files-list li", has_text="from-pc.txt")
    with page.expect_download() as info:
        row.locator("button").click()
    download = info.value
    assert download.suggested_filename == "from-pc.txt"
    target = tmp_path / "got.txt"
    download.save_as(target)
    assert target.read_bytes() == b"hello from the office PC\n"
    wait_js(page, "() => window.ponte.events.some((e) => e.op === 'download' && e.outcome === 'ok')")
    wait_for(lambda: (inbox / "x.bin").exists(), what="upload still there")


def test_cancel_stops_an_upload_and_leaves_nothing_on_the_pc(files_stack, page):  # noqa: F811
    gw, _agent, inbox, _shared = files_stack
    login(page, gw.url, "emp", "emppass12")
    page.goto(gw.url + "/view/office-pc")
    page.wait_for_selector("#files-open:not([hidden])")
    # Chromium's own throttling (DevTools), so the upload is still running when Cancel is pressed.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": 256 * 1024})
    page.evaluate(DROP, ["slow.bin", 8 * 1024 * 1024])
    row = page.locator("#files-transfers li", has_text="slow.bin")
    row.locator("button").wait_for()
    wait_js(page, "() => { const p = document.querySelector('#files-transfers progress'); return p && p.value > 0; }")
    row.locator("button", has_text="Cancel").click()
    event = wait_js(page, "() => window.ponte.events.find((e) => e.type === 'file' && e.name === 'slow.bin')")
    assert event["outcome"] == "cancelled"
    assert "Cancelled" in row.inner_text()
    wait_for(lambda: not inbox.exists() or not any(p.name.startswith(".ponte-part-") for p in inbox.iterdir()),
             timeout=30, what="no part file left")
    assert not (inbox / "slow.bin").exists()
    # The cut-off request keeps the part to resume ("interrupted: …"); Cancel drops it ("cancelled").
    wait_for(lambda: [r for r in audit_rows(gw, "file.upload")
                      if '"slow.bin"' in r["detail"] and '"outcome": "cancelled"' in r["detail"]], timeout=30,
             what="the cancel audited")


def test_an_upload_cut_off_goes_on_from_what_the_pc_has(files_stack, page):  # noqa: F811
    """Chromium reaches the gateway through a TCP proxy that drops every connection mid-upload
    (as a flaky office line does): the viewer asks how far the PC got and sends the rest; the
    file on the PC is the file."""
    gw, _agent, inbox, _shared = files_stack
    proxy = FaultProxy(("127.0.0.1", gw.port)).start()
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        login(page, url, "emp", "emppass12")
        page.goto(url + "/view/office-pc")
        page.wait_for_selector("#files-open:not([hidden])")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        slow = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024}
        cdp.send("Network.emulateNetworkConditions", slow)
        size = 4 * 1024 * 1024
        page.evaluate(DROP, ["cut.bin", size])
        row = page.locator("#files-transfers li", has_text="cut.bin")
        row.locator("button").wait_for()
        wait_for(lambda: inbox.exists() and any(p.name.startswith(".ponte-part-r-") and p.stat().st_size > 0
                                                for p in inbox.iterdir()), timeout=60, what="part file growing")
        # Every connection of the browser's drops mid-file, and the line stays down a moment:
        # Chromium's own quiet re-send of a request cut on a reused connection fails too, so
        # the viewer sees the cut and resumes.
        proxy.refuse()
        proxy.drop()
        time.sleep(3)
        proxy.heal()
        cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})
        try:
            event = wait_js(page, "() => window.ponte.events.find((e) => e.type === 'file' && e.name === 'cut.bin' "
                                  "&& e.outcome === 'ok')", timeout=120000)
        except Exception:
            print("viewer events so far:", page.evaluate("() => window.ponte.events"), row.inner_text(),
                  [(p.name, p.stat().st_size) for p in inbox.iterdir()])
            raise
        resumed = page.evaluate("() => window.ponte.events.filter((e) => e.name === 'cut.bin' "
                                "&& e.outcome === 'resuming')")
    finally:
        proxy.stop()
    assert event["outcome"] == "ok" and resumed and resumed[-1]["offset"] > 0, resumed
    assert (inbox / "cut.bin").read_bytes() == bytes((i * 7) & 0xFF for i in range(size))
    assert not any(p.name.startswith(".ponte-part-r-") for p in inbox.iterdir())
