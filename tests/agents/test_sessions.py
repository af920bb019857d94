"""Sessions end to end: viewer (vncdotool or a raw WebSocket viewer) → gateway → agent → VNC server.

Real Xvnc (TigerVNC) and real x11vnc on Xvfb, with and without a VNC password, RFB 3.3,
unsupported security types, VNC servers that send junk or nothing, a VNC server restarted in
the middle of a session, and two viewers at once.
"""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from agents.protocol.vncstate import employee
from tests.agents.conftest import AgentHost, RawViewer, RestartableXvnc, RFB33Server, SwitchableVNC, live_agent
from tests.conftest import needs
from tests.support import wait_for

KIND_OF_MODE = {"junk": "protocol", "silent": "timeout", "dribble": "timeout", "huge-name": "protocol",
                "unsupported": "security", "refuse": "refused"}

pytestmark = [needs("Xvnc", "vncpasswd", "xsetroot"), pytest.mark.slow]

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
HEX = {RED: "#ff0000", GREEN: "#00ff00", BLUE: "#0000ff"}


@pytest.fixture(scope="module")
def host(stack, tmp_path_factory):
    """More machines and agents on the module's gateway (``stack``), all granted to ``emp``."""
    h = AgentHost(stack.gateway, tmp_path_factory.mktemp("sessions"), own_gateway=False)
    yield h
    h.stop()


def connect(vncdotool, port: int):
    return vncdotool.connect(f"127.0.0.1::{port}", password=None, timeout=20)


def screen_colours(client) -> set:
    client.refreshScreen()
    img = client.screen
    w, h = img.size
    # corners and edges: x11vnc paints the pointer into the picture at the screen's centre
    points = [(1, 1), (w - 2, 1), (1, h - 2), (w - 2, h - 2), (w // 2, 1), (1, h // 2), (w // 4, h - 5)]
    return {img.getpixel(p)[:3] for p in points}


def capture(vncdotool, port: int) -> tuple[set, tuple[int, int]]:
    client = connect(vncdotool, port)
    try:
        colours = screen_colours(client)
        return colours, client.screen.size
    finally:
        client.disconnect()


# --------------------------------------------------------------------------- real servers, screens


def test_xvnc_with_password(stack, forward, vncdotool):
    fwd = forward()
    for colour in (RED, GREEN):
        stack.vnc.set_color(HEX[colour])
        colours, size = capture(vncdotool, fwd.port)
        assert colours == {colour} and size == (320, 240)


@pytest.mark.parametrize("kind, password, extra, rfb", [
    ("xvnc", None, (), "RFB 3.8"),
    ("x11vnc", "vncpass1", (), "RFB 3.8"),
    ("x11vnc", None, (), "RFB 3.8"),
    ("x11vnc", "vncpass1", ("-rfbversion", "3.3"), "RFB 3.3"),
    ("x11vnc", None, ("-rfbversion", "3.3"), "RFB 3.3"),
], ids=["xvnc-nopw", "x11vnc-pw", "x11vnc-nopw", "x11vnc-rfb33-pw", "x11vnc-rfb33-nopw"])
def test_real_servers(host, forward, vncdotool, vnc_factory, kind, password, extra, rfb, request):
    if kind == "x11vnc" and not (shutil.which("x11vnc") and shutil.which("Xvfb")):
        pytest.skip("not installed: x11vnc, Xvfb (make test installs them)")
    name = f"pc-{request.node.callspec.id}"
    vnc = vnc_factory(kind, password=password, extra=extra)
    vnc.set_color(HEX[BLUE])
    host.agent(name, vnc)
    record = live_agent(host.gateway, host.machine_id(name))
    assert record["vnc_ok"] == "1" and rfb in record["vnc_detail"], record
    fwd = forward(machine=name)
    colours, size = capture(vncdotool, fwd.port)
    assert colours == {BLUE} and size == (320, 240)


def test_rfb33_only_server_with_password(host, forward, vncdotool, tiny_servers):
    """A server that speaks nothing but RFB 3.3 and picks VncAuth itself (RFC 6143 §7.1.2 note)."""
    server = tiny_servers(RFB33Server, password="s3cret!", color=RED)
    host.agent("pc-rfb33-fake", server)
    fwd = forward(machine="pc-rfb33-fake")
    colours, size = capture(vncdotool, fwd.port)
    assert colours == {RED} and size == (64, 48)
    assert set(server.client_versions) == {b"RFB 003.003\n"}  # the agent answered 3.3


def test_two_viewers_at_once(stack, forward, vncdotool):
    """The employee and an admin watching: two sessions through one agent at the same time."""
    fwd_a, fwd_b = forward(), forward()
    stack.vnc.set_color(HEX[RED])
    a, b = connect(vncdotool, fwd_a.port), connect(vncdotool, fwd_b.port)
    try:
        assert screen_colours(a) == {RED} and screen_colours(b) == {RED}
        stack.vnc.set_color(HEX[GREEN])
        seen: dict = {}
        threads = [threading.Thread(target=lambda n, c: seen.__setitem__(n, screen_colours(c)), args=(n, c))
                   for n, c in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert seen == {"a": {GREEN}, "b": {GREEN}}
        live = stack.gateway.cli("sessions")
        assert live.count("office-pc") >= 2, live  # both live at the gateway at once
    finally:
        a.disconnect()
        b.disconnect()


# --------------------------------------------------------------------------- refusals reach the viewer


def test_why_the_pc_cannot_be_used_reaches_viewer_and_admin_in_their_own_words(host, vnc_factory, tls_files):
    """TigerVNC offering only VeNCrypt X509Vnc, the agent holding no certificate: the viewer is
    told what happened and whom to ask (no internal address); the admin reads cause and fix."""
    vnc = vnc_factory("xvnc", extra=("-SecurityTypes", "X509Vnc", "-X509Cert", str(tls_files.cert),
                                     "-X509Key", str(tls_files.key)))
    host.agent("pc-x509-untrusted", vnc)
    viewer = RawViewer.open(host.gateway.url, "pc-x509-untrusted")
    try:
        outcome, reason = viewer.handshake()
        code, _ = viewer.wait_closed()
    finally:
        viewer.close()
    print(f"\nviewer was told: {reason!r}")
    assert (outcome, code) == ("refused", 1000)
    assert reason == "Ponte does not trust the certificate of the PC's screen sharing: ask your admin."
    record = live_agent(host.gateway, host.machine_id("pc-x509-untrusted"))
    assert record["vnc_ok"] == "0" and record["vnc_state"] == "certificate"
    assert record["vnc_detail"] == (f"The VNC server at 127.0.0.1:{vnc.port} offers only VeNCrypt X509Vnc: give "
                                    "the agent the server's certificate (vnc_ca_file) or its SHA-256 "
                                    "fingerprint (vnc_pin_sha256).")
    assert host.gateway.machine_state("pc-x509-untrusted") == "vnc_down"


@pytest.mark.parametrize("security, trust", [("TLSVnc", None), ("X509Vnc", "pin"), ("X509None", "ca")])
def test_vencrypt_through_the_gateway(host, forward, vncdotool, vnc_factory, tls_files, security, trust):
    """VeNCrypt end to end: a real agent process logs in over TLS (anonymous, or checking the
    certificate) and relays the decrypted stream; the viewer (vncdotool) sees security None."""
    vnc = vnc_factory("xvnc", extra=("-SecurityTypes", security, "-X509Cert", str(tls_files.cert),
                                     "-X509Key", str(tls_files.key)))
    vnc.set_color(HEX[GREEN])
    name = f"pc-{security.lower()}"
    args = {"pin": ("--vnc-pin-sha256", tls_files.fingerprint), "ca": ("--vnc-ca-file", str(tls_files.ca)),
            None: ()}[trust]
    host.agent(name, vnc, extra_args=args)
    record = live_agent(host.gateway, host.machine_id(name))
    assert record["vnc_ok"] == "1" and f"VeNCrypt {security} over TLSv1." in record["vnc_detail"], record
    fwd = forward(machine=name)
    for colour in (GREEN, RED):
        vnc.set_color(HEX[colour])
        colours, size = capture(vncdotool, fwd.port)
        assert colours == {colour} and size == (320, 240)


def test_viewer_shared_flag_reaches_the_vnc_server(host, vnc_factory):
    """RFC 6143 §7.3.1: a viewer asking for exclusive access (shared-flag 0) gets it — TigerVNC
    then disconnects the other clients; one asking to share leaves them connected."""
    vnc = vnc_factory("xvnc", extra=("-AlwaysShared=0",))
    host.agent("pc-shared", vnc)
    first = RawViewer.open(host.gateway.url, "pc-shared")
    try:
        assert first.handshake(shared=True)[0] == "ok"
        second = RawViewer.open(host.gateway.url, "pc-shared")
        try:
            assert second.handshake(shared=True)[0] == "ok"
            first.request_update(320, 240)
            assert first.read(4)[0] == 0  # sharing: the first viewer still gets updates
            third = RawViewer.open(host.gateway.url, "pc-shared")
            try:
                assert third.handshake(shared=False)[0] == "ok"  # exclusive
                for viewer in (first, second):
                    code, _reason = viewer.wait_closed()  # TigerVNC dropped the others
                    assert code == 1000
                third.request_update(320, 240)
                assert third.read(4)[0] == 0
            finally:
                third.close()
        finally:
            second.close()
    finally:
        first.close()


def test_misbehaving_vnc_servers_fail_cleanly_within_the_bound(host, tiny_servers):
    """Junk, silence, a byte at a time, an absurd length: each costs the viewer one clean RFB
    failure within vnc_timeout (2 s here), and the agent serves the next session normally."""
    server = tiny_servers(SwitchableVNC)
    agent = host.agent("pc-switch", server, extra_args=("--vnc-timeout", "2"))
    timings = {}
    for mode in ("junk", "silent", "dribble", "huge-name", "unsupported", "refuse"):
        server.mode = mode
        viewer = RawViewer.open(host.gateway.url, "pc-switch")  # logged in, WebSocket open
        t0 = time.monotonic()
        try:
            try:
                outcome, reason = viewer.handshake()
            except EOFError:  # the server broke after logging us in: only a close can say so
                outcome, reason = "closed", viewer.ws.close_reason
            code, _ = viewer.wait_closed()
        finally:
            viewer.close()
        timings[mode] = round(time.monotonic() - t0, 2)
        if mode == "huge-name":  # after the login, a bad ServerInit: the gateway's plain close
            assert (outcome, code, reason) == ("closed", 1000, "The PC closed the connection")
        else:
            assert outcome == "refused" and code == 1000, (mode, outcome, reason)
            assert reason == employee(KIND_OF_MODE[mode]) and "127.0.0.1" not in reason, (mode, reason)
        # the bound (2 s), plus the agent's attach, plus up to 1 s for this viewer, which does not
        # close its side after the refusal (stream.LINGER)
        assert timings[mode] < 2 + 2.0 + 1.0, (mode, timings)
        if mode in ("silent", "dribble"):  # the admin's sentence says exactly what happened
            wait_for(lambda: "did not finish the RFB handshake within 2 s"
                     in (live_agent(host.gateway, host.machine_id("pc-switch")) or {}).get("vnc_detail", ""),
                     timeout=5, what="admin detail")
    print(f"\nseconds from the viewer's WebSocket opening to a clean failure and close: {timings}")
    server.mode = "good"
    viewer = RawViewer.open(host.gateway.url, "pc-switch")
    try:
        assert viewer.handshake() == ("ok", (64, 48, "rfb33-test"))
    finally:
        viewer.close()
    assert agent.proc.poll() is None
    assert "Traceback" not in agent.log_text()


# --------------------------------------------------------------------------- VNC server restarts


def test_vnc_server_restarted_mid_session(host, forward, vncdotool, tmp_path):
    xvnc = RestartableXvnc(tmp_path / "xvnc").start()
    try:
        xvnc.set_color(HEX[RED])
        agent = host.agent("pc-restart", xvnc)
        viewer = RawViewer.open(host.gateway.url, "pc-restart")
        try:
            outcome, (w, h, _name) = viewer.handshake()
            assert outcome == "ok"
            viewer.request_update(w, h)
            assert viewer.read(4)[0] == 0  # FramebufferUpdate: the session flows
            t0 = time.monotonic()
            xvnc.restart()
            code, reason = viewer.wait_closed()
            closed_after = time.monotonic() - t0
        finally:
            viewer.close()
        print(f"\nviewer closed {closed_after:.2f} s after the restart began: {code} {reason!r}")
        assert code == 1000 and reason == "The PC closed the connection"
        xvnc.set_color(HEX[GREEN])
        fwd = forward(machine="pc-restart")
        colours, size = capture(vncdotool, fwd.port)  # the next session works, same agent process
        assert colours == {GREEN} and size == (160, 120)
        assert agent.proc.poll() is None
    finally:
        xvnc.stop()
