"""Real Chromium: files dropped on the viewer's desktop reach the PC's upload folder, and a file
picked from the Files panel downloads (issue 15, Files). Real gateway and agent."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, wait_js
from tests.conftest import needs
from tests.e2e.test_files import files_stack  # noqa: F401 (a fixture: gateway, agent and its folders)
from tests.support import wait_for

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
