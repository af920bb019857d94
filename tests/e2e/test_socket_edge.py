"""What an unauthenticated or hostile client reaches before any login or pairing (issue 9).

Against real gateway processes: secrets at rest (item 8), a hostile agent's
text in the log (item 7), junk credentials (item 9), back-to-back reconnects
(item 10), WebSocket handshakes and subprotocols (item 10), deadlines and
connection caps under a low descriptor limit (item 5).
"""

from __future__ import annotations

import json
import os
import re
import resource
import selectors
import socket
import stat
import struct
import threading
import time
from pathlib import Path

import pytest

from agents.protocol import control
from agents.protocol.control import AgentInfo, Attach, Hello, StreamFailed
from agents.transport import HTTPClient, TLSOptions, TransportError, open_websocket
from tests.conftest import needs
from tests.support import AgentProcess, Gateway, WebClient, free_port, rfb_open, wait_for

pytestmark = pytest.mark.slow


# -- item 8: secrets at rest ------------------------------------------------------------------------

def _open_to_others(folder: Path) -> list[str]:
    found = []
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(folder.parent)} {mode:04o}")
    return found


def test_instance_folder_and_files_are_private(tmp_path):
    """Embedded Redis and SQLite, a folder an older version left 0755 with a 0644 key."""
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    (instance / "secret_key").write_text("k" * 64)
    (instance / "secret_key").chmod(0o644)
    gw = Gateway(instance, free_port(), "").start()   # no REDIS_URL: the embedded redis-server
    try:
        gw.add_user("emp", "emppass12")                   # writes through SQLite (WAL) and Redis
        settings = json.loads((instance / "live.rdb.settings").read_text())
        import redis

        client = redis.Redis(unix_socket_path=settings["unixsocket"])
        client.save()                                     # the dump lands in the instance folder
        client.close()
        names = {p.name for p in instance.iterdir()}
        assert {"ponte.db", "ponte.db-wal", "ponte.db-shm", "secret_key", "live.rdb"} <= names, names
        assert _open_to_others(instance) == []
        socket_mode = stat.S_IMODE(os.stat(settings["unixsocket"]).st_mode)
        assert not socket_mode & 0o077, f"redis socket {socket_mode:04o}"
        assert "was open to other users (mode 0755)" in gw.log_tail(20000)
    finally:
        gw.stop()


# -- helpers: raw sockets and a hostile agent --------------------------------------------------------

TLS = TLSOptions(insecure_dev=True)
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def ws_base(gw) -> str:
    return gw.url.replace("http", "ws", 1)


def enrol(gw, name: str) -> str:
    """A machine and its credential, as ``agents enroll`` gets it (without starting an agent)."""
    code = gw.add_machine(name)
    status, _h, body = HTTPClient(gw.url, TLS).request("POST", "/api/v1/enroll", json_body={"code": code})
    assert status == 201, body
    return json.loads(body)["credential"]


class HostileAgent:
    """An agent that holds a real credential and sends whatever it likes."""

    def __init__(self, gw, credential: str, info: AgentInfo = AgentInfo()):
        self.gw = gw
        self.ws = open_websocket(ws_base(gw) + "/ws/agent", TLS)
        self.ws.write_message(control.encode(Hello(credential=credential, info=info)))
        self.ws.settimeout(10)
        self.welcome = control.decode_from_gateway(self.ws.read_message())

    def next_open(self) -> control.OpenStream:
        while True:
            event = control.decode_from_gateway(self.ws.read_message())
            if isinstance(event, control.OpenStream):
                return event

    def stream(self, opened: control.OpenStream):
        ws = open_websocket(ws_base(self.gw) + f"/ws/agent/stream/{opened.session}", TLS)
        ws.write_message(control.encode(Attach(token=opened.token)))
        return ws


def head_of(sock: socket.socket, timeout: float = 10) -> bytes:
    """The server's answer up to the end of its headers (and whatever body came with it)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def upgrade_request(port: int, path: str, extra: str = "", *, key: str | None = KEY, version: str = "13") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade"]
    if version:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if key:
        lines.append(f"Sec-WebSocket-Key: {key}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def closed_after(sock: socket.socket, dribble: bytes, every: float, limit: float) -> tuple[float, bytes]:
    """Send ``dribble`` one byte every ``every`` s: seconds until the server closed (or ``limit``),
    and what it said."""
    started, said = time.monotonic(), b""
    sock.settimeout(every)
    for i in range(len(dribble)):
        try:
            sock.sendall(dribble[i:i + 1])
            while True:   # read what the server says (a 408) until it pauses or closes
                chunk = sock.recv(4096)
                if not chunk:
                    return time.monotonic() - started, said
                said += chunk
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - started, said
        if time.monotonic() - started > limit:
            return limit, said
    return limit, said


def masked_frame(payload: bytes) -> bytes:
    mask = b"\x11\x22\x33\x44"
    return bytes([0x82, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def log_size(gw) -> int:
    return (gw.instance / "gateway.log").stat().st_size


def crashes(gw, since: int = 0) -> list[str]:
    """Lines of the gateway log (from byte ``since``) that show a crash or descriptor exhaustion."""
    text = (gw.instance / "gateway.log").read_bytes()[since:].decode(errors="replace")
    return [line for line in text.splitlines()
            if re.search(r"Traceback|unhandled error|AssertionError|Too many open files|EMFILE", line)]


@pytest.fixture(scope="module")
def hostile(stack) -> str:
    """A machine of the stack granted to emp whose agent is the test (its credential)."""
    credential = enrol(stack.gateway, "hostile-pc")
    stack.gateway.cli("grant", "emp", "hostile-pc")
    return credential


# -- item 7: a hostile agent's text ------------------------------------------------------------------

FORGED = "2099-01-01 00:00:00,000 INFO gateway.auth: FORGED"


def test_hostile_agent_text_forges_no_log_line(stack, hostile):
    gw = stack.gateway
    evil = f"x\r\n{FORGED} hello\n\x1b[2J\u202e"
    agent = HostileAgent(gw, hostile, AgentInfo(version="1\r\nFORGED", os=evil[:120], hostname=evil,
                                                vnc_ok=True, vnc_detail=evil))
    emp = WebClient(gw.url, "emp", "emppass12")

    # A stream closed with a forged close reason; then one the agent says it failed.
    viewer = emp.view_socket(emp.open_session("hostile-pc")["ticket"])
    stream = agent.stream(agent.next_open())
    time.sleep(0.3)
    stream.close_with(4001, f"bye\r\n{FORGED} close")
    viewer.settimeout(10)
    while viewer.read_message() is not None:
        pass
    viewer2 = emp.view_socket(emp.open_session("hostile-pc")["ticket"])
    opened = agent.next_open()
    stream2 = agent.stream(opened)
    time.sleep(0.3)
    agent.ws.write_message(control.encode(StreamFailed(session=opened.session, reason=f"no\r\n{FORGED} failed")))
    time.sleep(0.3)
    stream2.close_with(1000)
    viewer2.settimeout(10)
    while viewer2.read_message() is not None:
        pass

    boss = WebClient(gw.url, "boss", "bosspass12")

    def reasons():
        return [row["end_reason"] for row in boss.json("GET", "/api/v1/history?machine=hostile-pc")["history"]
                if row["machine"] == "hostile-pc" and row["end_reason"]]
    wait_for(lambda: len(reasons()) >= 2, timeout=10, what="history rows")
    reasons = reasons()
    assert reasons and all("\r" not in r and "\n" not in r for r in reasons), reasons
    assert any("FORGED close" in r for r in reasons) and any("FORGED failed" in r for r in reasons), reasons
    shown = json.dumps(boss.json("GET", "/api/v1/machines/hostile-pc"), ensure_ascii=False)   # what admins see
    assert "FORGED hello" in shown and not re.search(r"\\[rn]|\\u001b|\u202e", shown), shown
    log = gw.log_tail(2_000_000)
    assert "FORGED close" in log   # the line was written: as one line of its own
    forged = [line for line in log.splitlines() if line.startswith(("2099-", "FORGED", "\x1b"))]
    assert forged == [], forged
    agent.ws.close_with(1000)


def test_a_stream_that_never_comes_still_ends_the_sessions_row(stack, hostile):
    """The history row is written while the agent dials (issue 16): a stream the agent says it
    cannot open leaves no row open, but one ended with what the viewer was told; the agent's
    control channel (run on after its request) goes on serving the next session."""
    gw = stack.gateway
    agent = HostileAgent(gw, hostile, AgentInfo(hostname="pc", vnc_ok=True))
    emp = WebClient(gw.url, "emp", "emppass12")
    issued = emp.open_session("hostile-pc")
    viewer = emp.view_socket(issued["ticket"])
    opened = agent.next_open()
    assert opened.session == issued["session"]
    agent.ws.write_message(control.encode(StreamFailed(session=opened.session, reason="no VNC here")))
    viewer.settimeout(10)
    while viewer.read_message() is not None:
        pass
    assert viewer.close_code == 4004 and "no VNC here" in viewer.close_reason

    boss = WebClient(gw.url, "boss", "bosspass12")

    def row():
        return next((r for r in boss.json("GET", "/api/v1/history?machine=hostile-pc")["history"]
                     if r["id"] == issued["session"]), None)
    wait_for(lambda: row() is not None and row()["ended_at"], timeout=10, what="the row ended")
    ended = row()
    assert ended["end_reason"] == "The PC could not start the session: no VNC here", ended
    assert ended["bytes_to_viewer"] == 0 and ended["bytes_from_viewer"] == 0 and ended["state"] != "live", ended

    second = emp.open_session("hostile-pc")   # the same control channel asked again: it still works
    viewer2 = emp.view_socket(second["ticket"])
    assert agent.next_open().session == second["session"]
    viewer2.close_with(1000)
    # What its last heartbeat said reaches SQL when the channel closes (outside any request).
    agent.ws.write_message(control.encode(control.Heartbeat(info=AgentInfo(hostname="pc-later", vnc_ok=True))))
    time.sleep(0.3)
    agent.ws.close_with(1000)

    def shown():
        return boss.json("GET", "/api/v1/machines/hostile-pc")["machine"]
    wait_for(lambda: shown()["status"]["state"] == "offline", timeout=10, what="the agent offline")
    assert "pc-later" in json.dumps(shown()), shown()


def test_the_pcs_refusal_heard_after_the_viewer_left_is_the_rows_end(stack, hostile):
    """The agent tells the viewer no on the stream and the gateway why on its control channel:
    when the viewer's close comes first, the row still says the PC's words, not "viewer closed"."""
    gw = stack.gateway
    agent = HostileAgent(gw, hostile, AgentInfo(hostname="pc", vnc_ok=True))
    emp = WebClient(gw.url, "emp", "emppass12")
    issued = emp.open_session("hostile-pc")
    viewer = emp.view_socket(issued["ticket"])
    stream = agent.stream(agent.next_open())
    reason = b"the VNC server rejected the password"
    stream.write_message(b"RFB 003.008\n" + struct.pack(">B", 0) + struct.pack(">I", len(reason)) + reason)
    viewer.settimeout(10)
    assert viewer.read_message().startswith(b"RFB 003.008\n")
    viewer.close_with(1000)                                 # as noVNC does on a security failure
    time.sleep(0.15)                                        # the control channel's word comes later
    agent.ws.write_message(control.encode(StreamFailed(session=issued["session"], reason=reason.decode())))

    boss = WebClient(gw.url, "boss", "bosspass12")

    def row():
        return next((r for r in boss.json("GET", "/api/v1/history?machine=hostile-pc")["history"]
                     if r["id"] == issued["session"]), None)
    wait_for(lambda: row() is not None and row()["ended_at"], timeout=10, what="the row ended")
    assert row()["end_reason"] == "The PC could not start the session: the VNC server rejected the password", row()
    agent.ws.close_with(1000)


# -- item 9: junk agent credentials -------------------------------------------------------------------

@pytest.mark.parametrize("credential", ["².x", "١.x", "99999999999999999999999.x", "9223372036854775808.x",
                                        "-1.x", ".x", "x", "", "1.\x00", "9" * 600])
def test_junk_credentials_are_refused_cleanly(stack, credential):
    mark = log_size(stack.gateway)
    ws = open_websocket(ws_base(stack.gateway) + "/ws/agent", TLS)
    ws.write_message(control.encode(Hello(credential=credential, info=AgentInfo())))
    ws.settimeout(10)
    answer = ws.read_message()
    if len(credential) > control.MAX_TEXT:   # longer than any field may be: a protocol refusal
        assert answer is None and ws.close_code == 4003
    else:
        assert control.decode_from_gateway(answer) == control.Refused(code="unknown",
                                                                      message="Unknown machine credential.")
    assert crashes(stack.gateway, mark) == []


# -- item 10: handshakes, subprotocols, tickets, origins ------------------------------------------------

def test_binary_subprotocol_is_selected(stack):
    port = stack.gateway.port
    with connect(port) as sock:
        sock.sendall(upgrade_request(port, "/ws/agent", "Sec-WebSocket-Protocol: binary\r\n"))
        head = head_of(sock)
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"\r\nSec-WebSocket-Protocol: binary\r\n" in head


@pytest.mark.parametrize("path", ["/ws/agent", "/ws/view", "/ws/agent/stream/" + "ab" * 16])
@pytest.mark.parametrize("change, reason", [
    ({"key": None}, b"16 random bytes"),
    ({"key": "not-a-key"}, b"16 random bytes"),
    ({"version": "8"}, b"version 13"),
    ({"version": ""}, b"version 13"),
    ({"extra": "Sec-WebSocket-Protocol: base64\r\n"}, b"offer 'binary'"),
])
def test_bad_handshakes_get_a_400_with_a_reason(stack, path, change, reason):
    port = stack.gateway.port
    with connect(port) as sock:
        sock.sendall(upgrade_request(port, path, change.get("extra", ""), key=change.get("key", KEY),
                                     version=change.get("version", "13")))
        answer = head_of(sock)
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert reason in answer, answer


def test_viewer_ticket_travels_as_a_subprotocol(stack):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    issued = emp.open_session("office-pc")
    assert "ticket" not in issued["ws_url"] and issued["ws_url"].endswith("/ws/view")
    ws = emp.view_socket(issued["ticket"])           # offers ["binary", "ponte.ticket.<ticket>"]
    assert ws.protocol == "binary"
    assert rfb_open(ws).server_init.width == 320
    ws.close_with(1000)
    # One-time as before: the same ticket again is refused.
    with pytest.raises(TransportError, match="403"):
        emp.view_socket(issued["ticket"])
    assert issued["ticket"] not in stack.gateway.log_tail(400_000)


def test_ticket_in_the_query_still_works_for_older_clients(stack):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    issued = emp.open_session("office-pc")
    ws = open_websocket(ws_base(stack.gateway) + f"/ws/view?ticket={issued['ticket']}", TLS,
                        headers={"Cookie": emp.http.cookie_header()}, origin=stack.gateway.url)
    assert rfb_open(ws).server_init.width == 320
    ws.close_with(1000)


@pytest.mark.parametrize("origin", ["{url}/", "{url}/evil", "https://127.0.0.1:{port}", "{url}#",
                                    "http://me@127.0.0.1:{port}", "null", "{url}, https://evil.example"])
def test_origin_variants_are_refused(stack, origin):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    ticket = emp.open_session("office-pc")["ticket"]
    with pytest.raises(TransportError, match="403"):
        emp.view_socket(ticket, origin=origin.format(url=stack.gateway.url, port=stack.gateway.port))


@pytest.mark.parametrize("origin", ["{url}", "HTTP://127.0.0.1:{port}"])
def test_same_origin_spelled_otherwise_is_the_same_origin(stack, origin):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    ws = emp.view_socket(emp.open_session("office-pc")["ticket"],
                         origin=origin.format(url=stack.gateway.url, port=stack.gateway.port))
    assert rfb_open(ws).server_init.width == 320
    ws.close_with(1000)


# -- item 10: back-to-back reconnects ----------------------------------------------------------------

def test_back_to_back_reconnects_end_cleanly_and_the_last_stays(stack):
    """The same credential, 320 hellos as fast as they go: each replaces the one before."""
    gw = stack.gateway
    credential = enrol(gw, "flappy-pc")
    mark = log_size(gw)
    hello = control.encode(Hello(credential=credential, info=AgentInfo(hostname="pc", vnc_ok=True)))
    sockets = []
    for _ in range(320):
        ws = open_websocket(ws_base(gw) + "/ws/agent", TLS)
        ws.write_message(hello)         # no wait for the welcome: the next one comes at once
        sockets.append(ws)
    last = sockets.pop()
    last.settimeout(10)
    assert isinstance(control.decode_from_gateway(last.read_message()), control.Welcome)
    wait_for(lambda: gw.machine_state("flappy-pc") == "online", timeout=10, what="the last channel online")
    for ws in sockets:
        ws.close_with(1000)
    time.sleep(1)
    assert gw.machine_state("flappy-pc") == "online"
    last.write_message(control.encode(control.Heartbeat(info=AgentInfo(hostname="pc", vnc_ok=True))))
    assert crashes(gw, mark) == []
    last.close_with(1000)


# -- item 5: total deadlines for what comes before authentication ---------------------------------------

def test_dribbled_heads_hellos_and_attaches_hit_a_total_deadline(stack, hostile):
    """A byte every 2 s never trips the stack's per-read timeout (3 s); the total deadlines
    (10 s for the request head, ``upgrade.HELLO_TIMEOUT`` = 10 s for hello and attach) end them."""
    gw, credential = stack.gateway, hostile
    agent = HostileAgent(gw, credential)
    emp = WebClient(gw.url, "emp", "emppass12")
    viewer = emp.view_socket(emp.open_session("hostile-pc")["ticket"])
    opened = agent.next_open()
    port = gw.port

    results: dict[str, float] = {}

    def head():
        with connect(port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            results["head"] = closed_after(sock, b"Host: x\r\nX-Slow: " + b"x" * 40, 2, 30)

    def request_line():
        with connect(port) as sock:
            results["request line"] = closed_after(sock, b"GET /healthz" + b"x" * 40, 2, 30)

    def hello():
        with connect(port) as sock:
            sock.sendall(upgrade_request(port, "/ws/agent"))
            assert head_of(sock).startswith(b"HTTP/1.1 101")
            frame = masked_frame(control.encode(Hello(credential=credential, info=AgentInfo())))
            results["hello"] = closed_after(sock, frame, 2, 30)

    def attach():
        with connect(port) as sock:
            sock.sendall(upgrade_request(port, f"/ws/agent/stream/{opened.session}"))
            assert head_of(sock).startswith(b"HTTP/1.1 101")
            results["attach"] = closed_after(sock, masked_frame(control.encode(Attach(token=opened.token))), 2, 30)

    threads = [threading.Thread(target=f) for f in (head, request_line, hello, attach)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    # Each deadline is 10 s; + one dribble period to notice, + a margin for a loaded machine.
    assert all(8 < t < 10 + 4 for t, _said in results.values()), results
    assert results["head"][1].startswith(b"HTTP/1.1 408 Request Timeout"), results
    assert results["request line"][1] == b"", results   # nothing to answer yet: closed
    viewer.close_with(1000)
    agent.ws.close_with(1000)


# -- item 5: connection caps under a low descriptor limit ------------------------------------------------

NOFILE = 256


def _low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def _flood(port: int, sources: list[str], n: int) -> tuple[list[socket.socket], dict]:
    """``n`` connections from each of ``sources`` at once: half idle /ws/agent upgrades, half dribbled heads.

    Answers are read for 2 s: a dribbled head the gateway is still waiting on gives none (``open``).
    """
    held, answers = [], {"101": 0, "503": 0, "open": 0, "other": 0}
    for source in sources:
        for i in range(n):
            try:
                sock = connect(port, source)
            except OSError:
                answers["other"] += 1
                continue
            held.append(sock)
            sock.sendall(upgrade_request(port, "/ws/agent") if i % 2 == 0 else b"GET /healthz HTTP/1.1\r\nHo")
    heads = {sock: b"" for sock in held}
    with selectors.DefaultSelector() as sel:
        for sock in held:
            sel.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + 2
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(0.2):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    chunk = b""
                heads[sock] += chunk
                if not chunk or b"\r\n\r\n" in heads[sock]:
                    sel.unregister(sock)
        waiting = set(sel.get_map()[fd].fileobj for fd in list(sel.get_map()))
    for sock, head in heads.items():
        if sock in waiting:
            answers["open"] += 1
            continue
        code = head[9:12].decode(errors="replace")
        answers[code if code in answers else "other"] += 1
        if code == "503":
            assert b"Retry-After: 5" in head, head
    return held, answers


def _healthz_from(port: int, source: str) -> bytes:
    with connect(port, source) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return head_of(sock)


@needs("Xvnc")
def test_connection_caps_under_a_low_descriptor_limit(tmp_path, redis_server, vnc_factory):
    """ulimit -n 256: one address opens 300 connections, then five addresses together try 500.

    The node never runs out of descriptors; over-limit clients get a 503 with
    Retry-After; a relayed session keeps going and others reach /healthz.
    """
    gw = Gateway(tmp_path / "gw", free_port(), redis_server, preexec=_low_nofile,
                 extra_env={"PONTE_REDIS_PREFIX": f"caps{os.getpid()}:"}).start()
    agent = None
    try:
        gw.add_user("emp", "emppass12")
        code = gw.add_machine("pc")
        gw.cli("grant", "emp", "pc")
        agent = AgentProcess(tmp_path / "agent", gw.url, vnc_factory())
        agent.enroll(code)
        agent.start()
        assert "192 open in total, 96 per client address" in gw.log_tail()
        emp = WebClient(gw.url, "emp", "emppass12")

        def state() -> str:
            return emp.json("GET", "/api/v1/me/machines")["machines"][0]["state"]
        wait_for(lambda: state() == "online", timeout=20, interval=0.3, what="agent online")
        viewer = emp.view_socket(emp.open_session("pc")["ticket"])
        rfb_open(viewer)
        viewer.settimeout(10)

        def session_answers() -> bool:
            viewer.write_message(struct.pack(">BBHHHH", 3, 0, 0, 0, 320, 240))
            return viewer.read_message()[0] == 0   # a FramebufferUpdate came back through the relay

        port = gw.port
        mark = log_size(gw)
        held, answers = _flood(port, ["127.0.0.2"], 300)
        print("one address, 300 connections:", answers)
        try:
            assert answers["101"] + answers["open"] <= 96 and answers["503"] >= 300 - 96, answers
            assert answers["other"] == 0, answers
            assert _healthz_from(port, "127.0.0.1").startswith(b"HTTP/1.1 200")
            assert session_answers()
            assert agent.proc.poll() is None and state() == "in_use"
        finally:
            for sock in held:
                sock.close()

        # Five addresses, each under its own cap, together over the total.
        held, answers = _flood(port, [f"127.0.0.{3 + i}" for i in range(5)], 100)
        print("five addresses, 100 connections each:", answers)
        try:
            assert answers["101"] + answers["open"] <= 192 - 3, answers   # besides the relay and the agent
            assert answers["503"] >= 500 - 192 and answers["other"] == 0, answers
            busy = _healthz_from(port, "127.0.0.9")
            assert busy.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in busy, busy
            assert session_answers()                               # open sessions go on
        finally:
            for sock in held:
                sock.close()
        wait_for(lambda: _healthz_from(port, "127.0.0.9").startswith(b"HTTP/1.1 200"), timeout=15,
                 what="healthz once the flood is gone")
        assert session_answers()
        assert crashes(gw, mark) == []
        assert "connection limit reached" in gw.log_tail(400_000)
        viewer.close_with(1000)
    finally:
        if agent is not None:
            agent.stop()
        gw.stop()


def test_behind_a_proxy_websockets_count_under_the_forwarded_client(gateway_factory):
    """trusted_proxies = 1: every TCP peer is the proxy, which must not be capped as one client;
    each upgraded WebSocket counts under the X-Forwarded-For client instead."""
    gw = gateway_factory(PONTE_TRUSTED_PROXIES="1", PONTE_MAX_CONNECTIONS_PER_IP="4")
    port = gw.port

    def upgrade(client: str) -> tuple[socket.socket, bytes]:
        sock = connect(port)
        sock.sendall(upgrade_request(port, "/ws/agent", f"X-Forwarded-For: {client}\r\n"))
        return sock, head_of(sock)

    held = []
    try:
        heads = []
        for _ in range(6):
            sock, head = upgrade("203.0.113.7")
            held.append(sock)
            heads.append(head)
        assert [h[9:12] for h in heads] == [b"101"] * 4 + [b"503"] * 2, heads
        assert b"Retry-After: 5" in heads[-1] and b"Connection: close" in heads[-1], heads[-1]
        sock, head = upgrade("198.51.100.1")     # another client behind the same proxy
        held.append(sock)
        assert head.startswith(b"HTTP/1.1 101"), head
        # Plain requests from the proxy are not capped per TCP peer.
        for _ in range(8):
            held.append(connect(port))
        assert _healthz_from(port, "127.0.0.1").startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
