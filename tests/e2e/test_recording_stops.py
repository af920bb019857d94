"""A real gateway, agent and Xvnc: a recording that cannot be written stops, with its reason where
admins look (the live sessions, then the history), and the session goes on as if nothing happened."""

from __future__ import annotations

import pytest

from tests.conftest import needs
from tests.support import WebClient, wait_for
from tests.support.viewer import TimedViewer

pytestmark = [needs("Xvnc"), pytest.mark.slow]


@pytest.mark.timeout(300)
def test_a_recording_that_cannot_be_written_stops_and_the_session_does_not(gateway_factory, agent_factory,
                                                                         vnc_factory, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the recordings folder should be\n")
    gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute", PONTE_RECORDING="true",
                         PONTE_RECORDINGS_PATH=str(blocker / "recordings"))
    gw.add_user("emp", "emppass12")
    gw.add_user("boss", "bosspass12", admin=True)
    agent_factory(gw, "pc", vnc_factory())
    gw.cli("grant", "emp", "pc")
    admin = WebClient(gw.url, "boss", "bosspass12")

    viewer = TimedViewer(gw.url, "pc")
    try:
        def live_recording():
            rows = admin.json("GET", "/api/v1/sessions")["sessions"]
            return next((r["recording"] for r in rows if r["id"] == viewer.session), None)

        wait_for(lambda: (live_recording() or "").startswith("Recording stopped"), timeout=20, interval=0.3,
                 what="the live record says why recording stopped")
        assert live_recording() == "Recording stopped: Not a directory"
        for _ in range(20):  # the session is untouched: every round trip answers
            assert viewer.round_trip() < 10
    finally:
        viewer.ws.close()

    def history():
        for line in gw.cli("recording", "list").splitlines():
            if line.startswith(viewer.session):
                return line.split("\t")[-1]
        return None

    wait_for(lambda: history() not in (None, "recording"), timeout=30, interval=0.5, what="the history row")
    assert history() == "Recording stopped: Not a directory"
