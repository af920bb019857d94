"""Real Chromium, gateway, agent and Xvnc: on a PC whose policy records, every session on it is
recorded — the employee's, an admin's shadow of it, and a guest's through a share link — and the
admin and the guest are told before it starts and see the recording mark, as the employee is.

Each recording is then read back from the folder: a whole file (the end block), the RFB stream
from the agent's ProtocolVersion on, and the colour painted on the X display while that viewer
watched, rendered from the recorded stream (``gateway.recording.render``)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, wait_js, watch_csp
from tests.conftest import ARTIFACTS, needs
from tests.support import WebClient, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs("chromium", "Xvnc")]

NOTICE = "This session is recorded (test notice)."
CONNECTED = "window.ponte && window.ponte.events.some(e => e.type === 'connect')"
COLOUR = "#d35400"


def connected(page) -> str:
    try:
        wait_js(page, CONNECTED, timeout=40000)
    except TimeoutError as exc:
        raise AssertionError(f"not connected: {page.inner_text('#status')!r}") from exc
    return page.evaluate("window.ponte.events.find(e => e.type === 'connect').session")


def shows_colour(page, colour: str) -> None:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    wait_js(page, f"""() => {{ const c = document.querySelector('#screen canvas');
        if (!c || !c.width) return false;
        const d = c.getContext('2d').getImageData(10, 10, 1, 1).data;
        return d[0] === {r} && d[1] === {g} && d[2] === {b}; }}""", timeout=15000)


def told(page) -> None:
    """The notice (the admin's text) and the mark, as for an employee."""
    assert page.is_visible("#recording-mark"), page.inner_text("body")
    assert page.inner_text("#recording-notice") == NOTICE
    assert page.evaluate("window.ponte.recording") is True


def last_colour(path) -> list[int]:
    """The pixel at (10, 10) of the last frame rendered from a recording's stream."""
    from gateway.recording import format as fmt
    from gateway.recording.render import frames
    from gateway.recording.storage import FileReader

    with FileReader(path) as reader:
        parsed = fmt.scan(reader.read_at)
        records = list(fmt.records(reader.read_at))
    assert parsed.ending is not None and parsed.ending["stopped"] == ""  # whole, closed at the end
    assert records[0].data.startswith(b"RFB 003.008\n")
    frame = None
    # To the end of the recording: a still screen sends nothing after its first update.
    for _ms, frame in frames(records, fps=10, until_ms=fmt.duration_ms(parsed)):
        pass
    return [int(v) for v in frame[10, 10][:3]]


@pytest.mark.timeout(500)  # three viewers on a loaded two-core machine
def test_shadows_and_guests_on_a_recorded_pc_are_recorded_and_told(gateway_factory, agent_factory, vnc_factory,
                                                                    browser, tmp_path):
    folder = tmp_path / "recordings"
    gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute", PONTE_RECORDINGS_PATH=str(folder),
                         PONTE_RECORDING_NOTICE=NOTICE)
    gw.add_user("emp", "emppass12")
    gw.add_user("boss", "bosspass12", admin=True)
    vnc = vnc_factory(geometry="320x240")
    vnc.set_color(COLOUR)
    agent_factory(gw, "pc", vnc)
    gw.cli("grant", "emp", "pc")
    gw.cli("policy", "set", "--machine", "pc", "--record", "on")  # this PC's policy, not the global setting
    share = WebClient(gw.url, "boss", "bosspass12").json(
        "POST", "/api/v1/machines/pc/shares", json_body={"view_only": True, "minutes": 15, "max_uses": 1})["share"]

    contexts = []
    violations = []

    def page_for(**kwargs):
        context = browser.new_context(viewport={"width": 1000, "height": 700}, **kwargs)
        contexts.append(context)
        page = context.new_page()
        violations.append(watch_csp(page))  # filled as the page runs
        return page

    sessions = {}
    try:
        emp = page_for()
        login(emp, gw.url, "emp", "emppass12")
        emp.goto(gw.url + "/view/pc")
        sessions["employee"] = connected(emp)
        told(emp)

        admin = page_for()
        login(admin, gw.url, "boss", "bosspass12")
        admin.goto(gw.url + "/admin/sessions")
        admin.click("text=Watch")
        sessions["shadow"] = connected(admin)
        told(admin)
        admin.screenshot(path=str(ARTIFACTS / "recording-shadow.png"))

        guest = page_for()
        guest.goto(share["url"])
        guest.click("#share-open")
        guest.wait_for_url("**/share/view")
        sessions["guest"] = connected(guest)
        told(guest)
        guest.screenshot(path=str(ARTIFACTS / "recording-guest.png"))

        for page in (emp, admin, guest):
            shows_colour(page, COLOUR)
        for page in (guest, admin, emp):
            page.click("#disconnect")
            wait_js(page, "document.querySelector('#status').textContent.startsWith('Disconnected')")
    finally:
        for context in contexts:
            context.close()
    assert not any(violations), violations
    assert len(set(sessions.values())) == 3

    def status(session):
        for line in gw.cli("recording", "list").splitlines():
            if line.startswith(session):
                return line.split("\t")[-1]
        return "missing"

    for kind, session in sessions.items():
        wait_for(lambda: status(session) == "recorded", timeout=30, interval=0.5, what=f"the {kind}'s recording")
        assert last_colour(folder / f"{session}.prec") == [0xD3, 0x54, 0x00], kind
