"""Real Chromium, real gateway, agent and Xvnc: a recorded session, then played back by an admin.

The test paints the X display in known colours at known times while a person
watches in the viewer (who is shown the notice and the recording mark); then an
admin opens the recording from the history, and the player's canvas shows those
colours at those times — after seeks forwards and backwards, and while playing at 8×.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from tests.browser.conftest import login, wait_js, watch_csp
from tests.conftest import ARTIFACTS, needs
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs("chromium", "Xvnc")]

NOTICE = "Questa sessione è registrata (test)."
COLOURS = ["#c81e1e", "#1ec81e", "#1e1ec8"]
HOLD_S = 3.0  # each colour stays this long


def rgb(colour: str) -> list[int]:
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]


def pixel_is(page, selector: str, colour: str) -> str:
    r, g, b = rgb(colour)
    return f"""() => {{ const c = document.querySelector('{selector} canvas');
        if (!c || !c.width) return false;
        const d = c.getContext('2d').getImageData(10, 10, 1, 1).data;
        return d[0] === {r} && d[1] === {g} && d[2] === {b}; }}"""


def pixel(page, selector: str) -> list[int]:
    return page.evaluate(f"""() => Array.from(document.querySelector('{selector} canvas')
        .getContext('2d').getImageData(10, 10, 1, 1).data).slice(0, 3)""")


@pytest.mark.timeout(400)  # ~50 s alone; under four helpers' tests on two cores, 170 s
def test_a_recorded_session_plays_back_in_the_browser(gateway_factory, agent_factory, vnc_factory, browser,
                                                      tmp_path):
    folder = tmp_path / "recordings"
    gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute", PONTE_RECORDING="true",
                         PONTE_RECORDINGS_PATH=str(folder), PONTE_RECORDING_NOTICE=NOTICE)
    gw.add_user("emp", "emppass12")
    gw.add_user("boss", "bosspass12", admin=True)
    vnc = vnc_factory(geometry="320x240")
    vnc.set_color("#000000")
    agent_factory(gw, "pc", vnc)
    gw.cli("grant", "emp", "pc")

    # The person: told before the session starts, marked while it runs.
    person = browser.new_context(viewport={"width": 900, "height": 600})
    page = person.new_page()
    violations = watch_csp(page)
    login(page, gw.url, "emp", "emppass12")
    page.goto(gw.url + "/view/pc")
    wait_js(page, "window.ponte && window.ponte.events.some(e => e.type === 'connect')", timeout=40000)
    assert page.is_visible("#recording-mark") and page.inner_text("#recording-notice") == NOTICE
    session = page.evaluate("window.ponte.events.find(e => e.type === 'connect').session")
    seen = []  # wall-clock time at which the viewer showed each colour
    for colour in COLOURS:
        vnc.set_color(colour)
        wait_js(page, pixel_is(page, "#screen", colour), timeout=15000)
        seen.append(time.time())
        time.sleep(HOLD_S)
    page.screenshot(path=str(ARTIFACTS / "recording-viewer.png"))
    page.click("#disconnect")
    wait_js(page, "document.querySelector('#status').textContent.startsWith('Disconnected')")
    person.close()
    assert not violations, violations

    def status():
        for line in gw.cli("recording", "list").splitlines():
            if line.startswith(session):
                return line.split("\t")[-1]
        return "missing"

    wait_for(lambda: status() == "recorded", timeout=20, interval=0.3, what="recording finished")
    assert (folder / f"{session}.prec").is_file()

    # The admin: from the history to the player.
    admin = browser.new_context(viewport={"width": 1000, "height": 900})
    page = admin.new_page()
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    violations = watch_csp(page)
    login(page, gw.url, "boss", "bosspass12")
    page.goto(gw.url + "/admin/history")
    page.click("a.play-recording")
    try:
        wait_js(page, "window.ponte && window.ponte.player && window.ponte.player.ready", timeout=30000)
    except TimeoutError:
        raise AssertionError(console)
    summary = page.evaluate("window.ponte.summary")
    assert summary["complete"] and summary["meta"]["session"] == session
    at = [(t - summary["meta"]["started"]) * 1000 + 1000 for t in seen]  # 1 s into each colour
    assert at[-1] + 1000 < summary["duration_ms"]

    seeks = {}
    for i in (2, 0, 1):  # forwards, back (a replay from the start), forwards
        page.evaluate(f"window.ponte.player.seek({at[i]})")
        wait_js(page, pixel_is(page, "#replay-screen", COLOURS[i]), timeout=10000)
        seeks[COLOURS[i]] = page.evaluate("window.ponte.player.lastSeekMs")
    assert pixel(page, "#replay-screen") == rgb(COLOURS[1])
    page.screenshot(path=str(ARTIFACTS / "recording-player.png"))

    # Playing at 8× from the start shows the colours in order (idle periods played, not jumped).
    page.uncheck("#skip-idle")
    page.evaluate("window.ponte.player.seek(0)")
    page.select_option("#speed", "8")
    began = time.monotonic()
    page.click("#play")
    order = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(order) < len(COLOURS):
        current = pixel(page, "#replay-screen")
        for colour in COLOURS:
            if current == rgb(colour) and colour not in order:
                order.append(colour)
        page.wait_for_timeout(30)
    assert order == COLOURS
    wait_js(page, "document.querySelector('#player-status').textContent === 'Finished'", timeout=30000)
    played_s = time.monotonic() - began
    assert played_s > summary["duration_ms"] / 8000 * 0.8  # 8×, not faster

    # With "skip idle periods" the still screens between the colours are jumped.
    page.check("#skip-idle")
    page.evaluate("window.ponte.player.seek(0)")
    began = time.monotonic()
    page.click("#play")
    wait_js(page, "document.querySelector('#player-status').textContent === 'Finished'", timeout=30000)
    skipping_s = time.monotonic() - began
    assert page.evaluate("window.ponte.player.skipped") >= 2
    assert skipping_s < played_s
    assert pixel(page, "#replay-screen") == rgb(COLOURS[-1])
    admin.close()
    assert not violations, violations
    print("seek times (ms):", json.dumps(seeks), "recording:", summary["size"], "bytes,",
          summary["duration_ms"], "ms; played at 8x in", round(played_s, 2), "s, skipping idle in",
          round(skipping_s, 2), "s")

    # Export to a video (the renderer decodes what noVNC and Xvnc negotiated), read back with ffmpeg.
    if shutil.which("ffmpeg"):
        for suffix in (".webm", ".mp4"):
            video = tmp_path / f"export{suffix}"
            began = time.monotonic()
            said = gw.cli("recording", "export", session, str(video), "--fps", "10")
            took = time.monotonic() - began
            assert "320x240" in said, said
            for i, colour in enumerate(COLOURS):
                got = video_pixel(video, at[i] / 1000, 320, 240)
                assert all(abs(a - b) <= 24 for a, b in zip(got, rgb(colour))), (suffix, colour, got)
            print(f"export {suffix}: {said.strip()} in {took:.1f} s, {video.stat().st_size} bytes")


def video_pixel(video, second: float, w: int, h: int) -> list[int]:
    """Pixel (10, 10) of the frame ffmpeg decodes at ``second`` of ``video``."""
    out = subprocess.run(["ffmpeg", "-loglevel", "error", "-ss", f"{second:.3f}", "-i", str(video), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    assert len(out) == w * h * 3, len(out)
    return list(out[(10 * w + 10) * 3:(10 * w + 10) * 3 + 3])


@pytest.mark.timeout(400)
def test_seeking_to_the_end_of_a_ten_minute_recording(gateway_factory, agent_factory, vnc_factory, browser,
                                                      tmp_path):
    """A real recorded session's history row, its file replaced by a ten-minute office-like
    recording built byte by byte (tests/support/synthrec.py): how long the player takes to
    seek to its end, from the start and again after a seek back."""
    from tests.support import synthrec
    from tests.support.viewer import TimedViewer

    folder = tmp_path / "recordings"
    gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute", PONTE_RECORDING="true",
                         PONTE_RECORDINGS_PATH=str(folder))
    gw.add_user("emp", "emppass12")
    gw.add_user("boss", "bosspass12", admin=True)
    agent_factory(gw, "pc", vnc_factory())
    gw.cli("grant", "emp", "pc")
    viewer = TimedViewer(gw.url, "pc")
    viewer.round_trip()
    viewer.close()
    session = viewer.session
    wait_for(lambda: f"{session}\t" in gw.cli("recording", "list") and
             gw.cli("recording", "list").split(session)[1].split("\n")[0].endswith("recorded"),
             timeout=30, interval=0.5, what="the short session recorded")
    final = "#1e1ec8"
    data = synthrec.recording_bytes(session, time.time(), minutes=10, final=tuple(rgb(final)))
    (folder / f"{session}.prec").write_bytes(data)

    admin = browser.new_context(viewport={"width": 1000, "height": 900})
    page = admin.new_page()
    violations = watch_csp(page)
    login(page, gw.url, "boss", "bosspass12")
    page.goto(gw.url + f"/admin/recordings/{session}")
    wait_js(page, "window.ponte && window.ponte.player && window.ponte.player.ready && window.ponte.loadMs",
            timeout=60000)
    duration = page.evaluate("window.ponte.summary.duration_ms")
    assert duration >= 600000
    seeks = []
    for _ in range(2):
        page.evaluate(f"window.ponte.player.seek({duration - 1000})")
        wait_js(page, pixel_is(page, "#replay-screen", final), timeout=60000)
        wait_js(page, "document.querySelector('#player-status').textContent === 'Paused'", timeout=60000)
        seeks.append(page.evaluate("window.ponte.player.lastSeekMs"))
        page.evaluate("window.ponte.player.seek(0)")  # back: the next seek replays from the start
        wait_js(page, f"!({pixel_is(page, '#replay-screen', final)})()", timeout=60000)
    # The time marks under the seek bar (every minute: 0:00 … 10:00).
    assert page.evaluate("document.querySelectorAll('#mark-labels span').length") >= 5
    load_ms = page.evaluate("window.ponte.loadMs")
    admin.close()
    assert not violations, violations
    print(f"ten-minute recording ({len(data)} bytes): loaded in {load_ms:.0f} ms; "
          f"seek from the start to the end: {', '.join(f'{s:.0f} ms' for s in seeks)}")
