"""vncdotool → ``agents forward`` → gateway → agent → Xvnc (VNC password), all real.

What the test draws on the X display must be what the viewer captures, and
what the viewer types and clicks must reach the X server.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from PIL import Image

from tests.conftest import needs
from agents.transport import HTTPClient, TLSOptions
from tests.support import WebClient, wait_for

pytestmark = [needs("Xvnc", "xsetroot", "xev", "xdotool"), pytest.mark.slow]

COLOURS = [("#3366cc", (0x33, 0x66, 0xCC)), ("#c0392b", (0xC0, 0x39, 0x2B))]


def capture(vncdotool, port: int, path) -> Image.Image:
    client = vncdotool.connect(f"127.0.0.1::{port}", password=None, timeout=15)
    try:
        client.captureScreen(str(path))
    finally:
        client.disconnect()
    return Image.open(path).convert("RGB")


@pytest.mark.parametrize("colour,rgb", COLOURS)
def test_screen_matches_what_was_drawn(stack, forward, vncdotool, tmp_path, colour, rgb):
    stack.vnc.set_color(colour)
    fwd = forward()
    image = capture(vncdotool, fwd.port, tmp_path / "screen.png")
    assert image.size == (320, 240)
    # Every corner and the centre: the root window is one solid colour.
    for xy in [(0, 0), (319, 0), (0, 239), (319, 239), (160, 120)]:
        assert image.getpixel(xy) == rgb, f"pixel {xy}"


def test_key_and_click_reach_the_x_server(stack, forward, vncdotool, tmp_path):
    fwd = forward()
    log = tmp_path / "xev.txt"
    # xev on the root window prints the key and button events the X server delivers.
    xev = subprocess.Popen(["xev", "-root", "-event", "keyboard", "-event", "button"], env=stack.vnc.env,
                           stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        client = vncdotool.connect(f"127.0.0.1::{fwd.port}", password=None, timeout=15)
        try:
            client.mouseMove(123, 77)
            client.keyPress("q")
            client.mousePress(1)
        finally:
            client.disconnect()
        wait_for(lambda: "ButtonPress" in log.read_text() and "keysym 0x71, q" in log.read_text(),
                 timeout=10, what="xev to see the key and the click")
    finally:
        xev.terminate()
        xev.wait(5)
    where = stack.vnc.x("xdotool", "getmouselocation").stdout
    assert "x:123 y:77" in where


def test_session_is_recorded_with_bytes_and_reason(stack, forward, vncdotool, tmp_path):
    fwd = forward()
    capture(vncdotool, fwd.port, tmp_path / "s.png")
    rows = wait_for(lambda: [r for r in _history(stack) if r["end_reason"]], timeout=10, what="history row")
    last = rows[0]
    assert last["user"] == "emp" and last["machine"] == "office-pc"
    assert last["bytes_to_viewer"] > 320 * 240 * 3  # at least one full raw frame
    assert last["bytes_from_viewer"] > 0
    assert last["end_reason"] == "viewer closed"
    assert last["ended_at"] is not None


def _history(stack) -> list[dict]:
    return WebClient(stack.gateway.url, "boss", "bosspass12").json("GET", "/api/v1/history")["history"]


def test_metrics_count_sessions_and_bytes(stack, forward, vncdotool, tmp_path):
    fwd = forward()
    capture(vncdotool, fwd.port, tmp_path / "m.png")
    boss = WebClient(stack.gateway.url, "boss", "bosspass12")

    def scrape() -> dict:
        _s, _h, body = boss.http.request("GET", "/metrics")
        return {line.split()[0]: float(line.split()[1]) for line in body.decode().splitlines()
                if line and not line.startswith("#")}

    values = wait_for(lambda: (lambda m: m if m.get('ponte_sessions_ended_total{cause="viewer"}') else None)(scrape()),
                      timeout=10, what="session counted")
    assert values["ponte_sessions_started_total"] >= 1
    assert values["ponte_agents_connected"] == 1
    assert values['ponte_relay_bytes_total{direction="to_viewer"}'] > 320 * 240 * 3
    anonymous = HTTPClient(stack.gateway.url, TLSOptions(insecure_dev=True)).request("GET", "/metrics")
    assert anonymous[0] == 401


def test_history_and_metrics_get_both_hops_round_trips(stack, forward, vncdotool, tmp_path):
    """Issue 14: the relay's pings time both hops; the history keeps their medians and the bandwidth."""
    before = {r["id"] for r in _history(stack)}
    fwd = forward()
    client = vncdotool.connect(f"127.0.0.1::{fwd.port}", password=None, timeout=15)
    try:
        client.captureScreen(str(tmp_path / "q.png"))
        time.sleep(1.5)  # past the first ping's pong, and long enough for a bandwidth window
        client.captureScreen(str(tmp_path / "q2.png"))
    finally:
        client.disconnect()
    rows = wait_for(lambda: [r for r in _history(stack) if r["end_reason"] and r["id"] not in before],
                    timeout=10, what="the session's history row")
    row = rows[0]
    assert row["rtt_viewer_ms"] is not None and row["rtt_agent_ms"] is not None, row
    # loopback: well under 100 ms, and measured (an unmeasured hop is None, not 0)
    assert 0 <= row["rtt_viewer_ms"] < 100 and 0 <= row["rtt_agent_ms"] < 100
    assert row["kbps_to_viewer_mean"] > 0 and row["kbps_to_viewer_peak"] >= row["kbps_to_viewer_mean"]
    assert row["fps"] is None and row["encoding"] == ""   # no browser: nobody counted frames
    boss = WebClient(stack.gateway.url, "boss", "bosspass12")
    _s, _h, body = boss.http.request("GET", "/metrics")
    counts = {line.split()[0]: float(line.split()[1]) for line in body.decode().splitlines()
              if line.startswith("ponte_hop_rtt_seconds_count")}
    assert counts['ponte_hop_rtt_seconds_count{hop="viewer"}'] >= 1
    assert counts['ponte_hop_rtt_seconds_count{hop="agent"}'] >= 1
    _s, _h, csv_body = boss.http.request("GET", "/api/v1/history?format=csv")
    header = csv_body.decode().splitlines()[0].split(",")
    assert {"rtt_viewer_ms", "rtt_agent_ms", "fps", "encoding", "kbps_to_viewer_peak"} <= set(header)
