"""A wrong VNC password must not lock the PC out (issue 11 §3), against real TightVNC 1.3.

TightVNC blocks every client after 5 failed logins ("Too many authentication failures"),
the PC's own users included, and the right password with them. With the wrong password
in its password file, the agent logs in once, fails, and then stops: viewers are told
"the PC's VNC password in Ponte is wrong — ask your admin" without the VNC server being
touched. Fixing the file is noticed; an admin's "Retry VNC login" (POST
/api/v1/machines/<m>/vnc-retry → RetryVnc on the control channel) costs exactly one try.
TightVNC's own log is the witness: one "authentication failed" line per try.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from agents.transport import HTTPClient, TLSOptions
from tests.agents.conftest import RawViewer, live_agent, start_tightvnc
from tests.conftest import needs
from tests.support import wait_for

pytestmark = [needs("Xtightvnc", "vncpasswd"), pytest.mark.slow]

RIGHT, WRONG, ALSO_WRONG = "rightpw1", "wrongpw1", "wrongpw2"
WRONG_SENTENCE = "The PC's VNC password in Ponte is wrong — ask your admin."


def failures(server) -> int:
    return (server.workdir / "tightvnc.log").read_text(errors="replace").count("authentication failed")


def test_wrong_password_costs_one_failed_login_then_a_fixed_one_works(agent_host, tmp_path):
    gw = agent_host.gateway
    tight = start_tightvnc(tmp_path / "tight", password=RIGHT)
    pwfile = tmp_path / "vnc-password"
    pwfile.write_text(WRONG + "\n")
    try:
        agent = agent_host.agent("wp-pc", dataclasses.replace(tight, password=None),
                                 extra_args=("--vnc-password-file", str(pwfile)))
        mid = agent_host.machine_id("wp-pc")
        wait_for(lambda: (live_agent(gw, mid) or {}).get("vnc_state") == "locked", timeout=20,
                 what="agent reports the wrong password")
        record = live_agent(gw, mid)
        assert "rejected the password" in record["vnc_detail"] and "stopped trying" in record["vnc_detail"]
        assert failures(tight) == 1

        # Five viewers click Open: each is told why, and the VNC server sees none of them.
        for _ in range(5):
            viewer = RawViewer.open(gw.url, "wp-pc")
            try:
                outcome, reason = viewer.handshake()
            finally:
                viewer.close()
            assert (outcome, reason) == ("refused", WRONG_SENTENCE)
        time.sleep(6)  # and a few of the agent's periodic checks go by (every 5 s while locked)
        assert failures(tight) == 1, (tight.workdir / "tightvnc.log").read_text()

        # An admin presses "Retry VNC login" without fixing anything: one more try, still locked.
        gw.add_user("boss", "bosspass12", admin=True)
        token = gw.cli("user", "token", "boss").strip()
        api = HTTPClient(gw.url, TLSOptions(insecure_dev=True))
        api.json("POST", "/api/v1/machines/wp-pc/vnc-retry", json_body={},
                 headers={"Authorization": f"Bearer {token}"})
        wait_for(lambda: failures(tight) == 2, timeout=10, what="the retry's one login")
        time.sleep(2)
        assert failures(tight) == 2 and live_agent(gw, mid)["vnc_state"] == "locked"

        # Someone fixes the password file: the agent notices and the PC works, unblocked.
        t0 = time.monotonic()
        pwfile.write_text(RIGHT + "\n")
        wait_for(lambda: (live_agent(gw, mid) or {}).get("vnc_ok") == "1", timeout=15, what="VNC usable again")
        print(f"\nfixed password file noticed in {time.monotonic() - t0:.1f} s")
        viewer = RawViewer.open(gw.url, "wp-pc")
        try:
            outcome, (width, height, name) = viewer.handshake()
        finally:
            viewer.close()
        assert outcome == "ok" and (width, height) == (320, 240) and "tight-pc" in name
        assert failures(tight) == 2  # never near TightVNC's block at 5
        assert "Too many" not in (tight.workdir / "tightvnc.log").read_text(errors="replace")
    finally:
        tight.stop()
