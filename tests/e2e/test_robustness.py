"""Bad input and failures get a clean close or a clear error, never a crashed node.

Against real processes: junk and oversized WebSocket frames, junk RFB, a
viewer that never reads, an agent killed mid-session, Redis restarted, an
admin ending a session, a user disabled.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import time

import pytest

from agents.transport import HTTPClient, HTTPError, TLSOptions, TransportError
from tests.conftest import needs
from tests.support import Gateway, RedisServer, WebClient, free_port, rfb_open, wait_for

pytestmark = [needs("Xvnc"), pytest.mark.slow]

TLS = TLSOptions(insecure_dev=True)


def healthy(url: str) -> bool:
    status, _h, _b = HTTPClient(url, TLS).request("GET", "/healthz")
    return status == 200


def request_full_frame(ws, width=320, height=240) -> None:
    # FramebufferUpdateRequest, non-incremental (RFC 6143 §7.5.3)
    ws.write_message(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))


def read_until_closed(ws, timeout: float = 15) -> None:
    ws.settimeout(timeout)
    while ws.read_message() is not None:
        pass


def raw_upgrade(port: int, path: str, extra: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "closed before the upgrade answer"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:80]
    return sock


def closes(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def test_junk_http_does_not_hurt_the_gateway(stack):
    port = stack.gateway.port
    for junk in [os.urandom(4096), b"\x16\x03\x01\x02\x00" + os.urandom(200), b"GET / HTTP/1.1\r\n" + b"X" * 70000]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(junk)
            closes(s)
    assert healthy(stack.gateway.url)


@pytest.mark.parametrize("frame", [
    bytes(range(64)),                                     # junk, not RFC 6455
    b"\x82\xfe\x3f\xff" + b"mask" + b"x" * 100,           # a frame that never completes
    b"\x82\xff" + struct.pack(">Q", 1 << 40) + b"mask",   # 1 TiB frame announced
    b"\x81\x85abcd" + bytes(c ^ m for c, m in zip(b"hello", b"abcd")),  # text frame: unsupported
])
def test_bad_frames_on_agent_channel_close_cleanly(stack, frame):
    sock = raw_upgrade(stack.gateway.port, "/ws/agent")
    sock.sendall(frame)
    closes(sock, timeout=15)  # at the latest when the 10 s hello deadline passes
    assert healthy(stack.gateway.url)
    assert stack.gateway.machine_state("office-pc") == "online"  # the real agent is untouched


def test_oversized_viewer_message_ends_only_that_session(stack):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    ws = emp.view_socket(emp.open_session("office-pc")["ticket"])
    rfb_open(ws)
    ws.socket.sendall(b"\x82\xff" + struct.pack(">Q", 64 * 1024 * 1024) + b"mask" + b"\0" * 1000)
    read_until_closed(ws)
    assert ws.close_code == 1009, (ws.close_code, ws.close_reason)
    history = WebClient(stack.gateway.url, "boss", "bosspass12").json("GET", "/api/v1/history")["history"]
    assert history[0]["end_reason"] == "viewer sent an oversized message"
    # The next session works.
    ws2 = emp.view_socket(emp.open_session("office-pc")["ticket"])
    assert rfb_open(ws2).server_init.width == 320
    ws2.close_with(1000)


def test_junk_rfb_from_viewer_closes_session_and_agent_survives(stack):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    ws = emp.view_socket(emp.open_session("office-pc")["ticket"])
    assert ws.read_message().startswith(b"RFB 003.008")
    ws.write_message(b"this is not RFB at all\n")
    read_until_closed(ws)
    assert stack.agent.proc.poll() is None
    ws2 = emp.view_socket(emp.open_session("office-pc")["ticket"])
    assert rfb_open(ws2).server_init.width == 320
    ws2.close_with(1000)


def gateway_rss_kb(gw: Gateway) -> int:
    for line in open(f"/proc/{gw.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_viewer_that_never_reads_does_not_grow_gateway_or_block_others(stack):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    slow = emp.view_socket(emp.open_session("office-pc")["ticket"])
    rfb_open(slow)
    slow.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    before = gateway_rss_kb(stack.gateway)
    # Ask for ~120 MB of full frames and read none of them.
    for _ in range(400):
        request_full_frame(slow)
    time.sleep(3)
    grown = gateway_rss_kb(stack.gateway) - before
    assert grown < 30_000, f"gateway grew by {grown} KiB for a viewer that does not read"
    # Meanwhile another session of the same PC gets its screen promptly.
    fast = emp.view_socket(emp.open_session("office-pc")["ticket"])
    rfb_open(fast)
    request_full_frame(fast)
    fast.settimeout(10)
    assert fast.read_message()[0] == 0  # FramebufferUpdate
    fast.close_with(1000)
    slow.close_with(1000)


def test_admin_ends_session_and_viewer_is_told(stack):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    issued = emp.open_session("office-pc")
    ws = emp.view_socket(issued["ticket"])
    rfb_open(ws)
    wait_for(lambda: issued["session"] in stack.gateway.cli("sessions"), timeout=5, what="live session listed")
    stack.gateway.cli("end", issued["session"], "--reason", "Maintenance window")
    read_until_closed(ws)
    assert ws.close_reason == "Maintenance window"
    status = emp.json("GET", f"/api/v1/sessions/{issued['session']}")
    assert status["state"] == "ended" and status["end_reason"] == "Maintenance window"


def test_a_viewer_asking_the_instant_its_socket_closes_hears_the_admins_end(stack):
    """The viewer's question races the history row's write: the answer must never be "reconnect"."""
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    admin = WebClient(stack.gateway.url, "boss", "bosspass12")
    for attempt in range(5):
        issued = emp.open_session("office-pc")
        ws = emp.view_socket(issued["ticket"])
        rfb_open(ws)
        wait_for(lambda: issued["session"] in stack.gateway.cli("sessions"), timeout=5, what="live session listed")
        admin.json("DELETE", f"/api/v1/sessions/{issued['session']}", json_body={"reason": "Maintenance window"})
        read_until_closed(ws)
        status = emp.json("GET", f"/api/v1/sessions/{issued['session']}")
        assert status["reconnect"] is False, (attempt, status)
        assert (status["state"], status["end_reason"], status["ended_by"]) == ("ended", "Maintenance window",
                                                                                "boss"), (attempt, status)


def test_agent_killed_mid_session_closes_viewer_and_goes_offline(gateway_factory, agent_factory, vnc_factory):
    gw = gateway_factory(PONTE_HEARTBEAT="1")
    gw.add_user("emp", "emppass12")
    agent = agent_factory(gw, "pc", vnc_factory())
    gw.cli("grant", "emp", "pc")
    emp = WebClient(gw.url, "emp", "emppass12")
    ws = emp.view_socket(emp.open_session("pc")["ticket"])
    rfb_open(ws)
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait(5)
    started = time.monotonic()
    read_until_closed(ws)
    assert time.monotonic() - started < 5
    wait_for(lambda: gw.machine_state("pc") == "offline", timeout=10, what="machine offline")
    # A ticket can still be issued, but the view refuses plainly: the PC is offline.
    with pytest.raises(TransportError, match="409"):
        emp.view_socket(emp.open_session("pc")["ticket"])


def test_disabled_user_sessions_end_within_seconds(stack):
    stack.gateway.add_user("temp", "temppass12")
    stack.gateway.cli("grant", "temp", "office-pc")
    temp = WebClient(stack.gateway.url, "temp", "temppass12")
    ws = temp.view_socket(temp.open_session("office-pc")["ticket"])
    rfb_open(ws)
    stack.gateway.cli("user", "disable", "temp")
    started = time.monotonic()   # the CLI's own start-up (seconds on a busy machine) is not the gateway's
    read_until_closed(ws, timeout=10)
    assert time.monotonic() - started < 5
    assert ws.close_reason == "Your account was disabled"
    with pytest.raises(HTTPError) as err:
        temp.open_session("office-pc")
    assert err.value.status == 401


def test_password_reset_ends_cookies_and_live_sessions(stack):
    stack.gateway.add_user("temp2", "temppass12")
    stack.gateway.cli("grant", "temp2", "office-pc")
    temp = WebClient(stack.gateway.url, "temp2", "temppass12")
    saved = temp.http.cookie_header()

    def replay() -> int:
        return HTTPClient(stack.gateway.url, TLS).request("GET", "/api/v1/me", headers={"Cookie": saved})[0]

    assert replay() == 200   # a stolen copy of the cookie works, until...
    ws = temp.view_socket(temp.open_session("office-pc")["ticket"])
    rfb_open(ws)
    stack.gateway.cli("user", "passwd", "temp2", input="a-new-password-9\n")
    started = time.monotonic()   # the CLI's own start-up (seconds on a busy machine) is not the gateway's
    read_until_closed(ws, timeout=10)
    assert time.monotonic() - started < 5
    assert ws.close_reason == "Your password was changed"
    assert replay() == 401   # ...the reset: the saved cookie is worthless now


def _session_on_its_own_redis(tmp_path, agent_factory, vnc_factory):
    """A gateway on a Redis of its own (to stop), an agent, and emp's live session on it."""
    redis = RedisServer.start(tmp_path / "redis")
    gw = None
    try:
        gw = Gateway(tmp_path / "gw", free_port(), redis.url, extra_env={"PONTE_HEARTBEAT": "1"}).start()
        gw.add_user("emp", "emppass12")
        agent_factory(gw, "pc", vnc_factory())
        gw.cli("grant", "emp", "pc")
        emp = WebClient(gw.url, "emp", "emppass12")
        ws = emp.view_socket(emp.open_session("pc")["ticket"])
        rfb_open(ws)
    except BaseException:
        if gw is not None:
            gw.stop()
        redis.stop()
        raise
    return redis, gw, emp, ws


def test_redis_restart_live_session_survives_and_service_recovers(tmp_path, agent_factory, vnc_factory):
    redis, gw, emp, ws = _session_on_its_own_redis(tmp_path, agent_factory, vnc_factory)
    try:
        redis.stop()
        # No live store: a clear 503, not a traceback; the open session keeps working.
        with pytest.raises(HTTPError) as err:
            emp.open_session("pc")
        assert err.value.status == 503
        assert err.value.body["error"]["code"] == "live_store_unavailable"
        status, _h, _b = HTTPClient(gw.url, TLS).request("GET", "/healthz")
        assert status == 503
        request_full_frame(ws)
        ws.settimeout(10)
        assert ws.read_message()[0] == 0
        redis.restart()
        # The node re-asserts its agent and the live session as soon as Redis answers; new sessions work.
        wait_for(lambda: gw.machine_state("pc") == "in_use", timeout=15, interval=0.3, what="agent back")
        ws2 = emp.view_socket(emp.open_session("pc")["ticket"])
        assert rfb_open(ws2).server_init.width == 320
        ws2.close_with(1000)
        ws.close_with(1000)
        assert healthy(gw.url)
    finally:
        gw.stop()
        redis.stop()


def test_hung_redis_bounds_every_request_and_the_live_session_goes_on(tmp_path, agent_factory, vnc_factory):
    """Redis stopped (SIGSTOP: its port still accepts, nothing answers) — a hung store, not a
    gone one. Requests that need it answer 503 within the command timeout instead of hanging;
    the open session keeps relaying; once Redis answers again, new sessions work."""
    from gateway.live_redis import COMMAND_TIMEOUT

    redis, gw, emp, ws = _session_on_its_own_redis(tmp_path, agent_factory, vnc_factory)
    stopped = False
    try:
        os.kill(redis.proc.pid, signal.SIGSTOP)
        stopped = True
        started = time.monotonic()
        with pytest.raises(HTTPError) as err:
            emp.open_session("pc")
        assert err.value.status == 503, err.value.body
        status, _h, _b = HTTPClient(gw.url, TLS, timeout=30).request("GET", "/healthz")
        assert status == 503
        took = time.monotonic() - started
        print(f"open refused and /healthz 503 in {took:.1f} s with Redis stopped")
        assert took < 3 * COMMAND_TIMEOUT + 5
        request_full_frame(ws)
        ws.settimeout(10)
        assert ws.read_message()[0] == 0  # the relay needs no Redis to move the screen
        os.kill(redis.proc.pid, signal.SIGCONT)
        stopped = False
        wait_for(lambda: healthy(gw.url), timeout=20, interval=0.5, what="healthy again")
        back = time.monotonic()
        wait_for(lambda: gw.machine_state("pc") == "in_use", timeout=30, interval=0.3, what="agent back")
        print(f"agent listed again {time.monotonic() - back:.1f} s after Redis answered")
        ws2 = emp.view_socket(emp.open_session("pc")["ticket"])
        assert rfb_open(ws2).server_init.width == 320
        ws2.close_with(1000)
        ws.close_with(1000)
    finally:
        if stopped:
            os.kill(redis.proc.pid, signal.SIGCONT)
        gw.stop()
        redis.stop()
