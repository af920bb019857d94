"""A real gateway, agent and Xvnc: a recording that cannot be written stops, with its reason where
admins look (the live sessions, then the history), and the session goes on as if nothing happened."""

from __future__ import annotations

import errno
import os
import subprocess
import time

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


def _can_mount_tmpfs(where) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


def _fill(folder) -> None:
    """Write a filler file until the file system says ENOSPC (it is full)."""
    with open(folder / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(bytes(4096))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


@pytest.mark.timeout(300)
def test_a_disk_that_fills_up_mid_session_stops_the_recording_not_the_session(gateway_factory, agent_factory,
                                                                             vnc_factory, tmp_path):
    # A real file system that runs out of space: a 1 MiB tmpfs (root only), filled while the session runs.
    folder = tmp_path / "tiny"
    if not _can_mount_tmpfs(folder):
        pytest.skip("mounting a tmpfs needs root")
    try:
        gw = gateway_factory(PONTE_LOGIN_LIMIT="1000 per minute", PONTE_RECORDING="true",
                             PONTE_RECORDINGS_PATH=str(folder))
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

            assert live_recording() == "recording"
            recording = folder / f"{viewer.session}.prec"
            wait_for(recording.exists, timeout=20, interval=0.2, what="the recording file")
            _fill(folder)
            viewer.start()  # screen updates keep coming: the recorder must write, and cannot
            wait_for(lambda: (live_recording() or "").startswith("Recording stopped"), timeout=60, interval=0.3,
                     what="the live record says why recording stopped")
            assert live_recording() == "Recording stopped: No space left on device"
            time.sleep(1.0)
            rtts = viewer.stop()  # raises if the session died meanwhile
            assert rtts and max(rtts) < 10
            for _ in range(20):
                assert viewer.round_trip() < 10
        finally:
            viewer.ws.close()

        def history():
            for line in gw.cli("recording", "list").splitlines():
                if line.startswith(viewer.session):
                    return line.split("\t")[-1]
            return None

        wait_for(lambda: history() not in (None, "recording"), timeout=30, interval=0.5, what="the history row")
        assert history() == "Recording stopped: No space left on device"
        # What an admin reads: the history (API; the history page shows the same column).
        rows = admin.json("GET", "/api/v1/history")["history"]
        assert next(r["recording"] for r in rows if r["id"] == viewer.session) == \
            "Recording stopped: No space left on device"
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
