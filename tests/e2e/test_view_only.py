"""View-only, idle timeout and shadowing through the real parts: Xvnc, agent, gateway, a raw RFB viewer.

The viewer is written here (not vncdotool) so that it sends exactly the messages a view-only
session must drop — pointer moves and clicks, keys, QEMU extended keys, clipboard — and the X
server is asked what it received: the pointer's position (xdotool), the key and button events
(xev on the root window) and the owner of the CLIPBOARD selection (libX11, which Xvnc takes when
a viewer's ClientCutText reaches it). The same sequence in an ordinary session must change all
three, so a test that saw nothing because nothing worked would fail there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import struct
import subprocess
import time
import uuid

import pytest

from tests.conftest import needs
from tests.support import WebClient, rfb_open, wait_for

# The first test pays for the module's stack (Xvnc, gateway, enrolled agent): over two minutes
# on a loaded 2-core machine, so more than the 180 s default.
pytestmark = [needs("Xvnc", "xev", "xdotool"), pytest.mark.slow, pytest.mark.timeout(400)]

RAW, QEMU_KEY = 0, -258


class RawViewer:
    """An RFB viewer on a gateway's /ws/view that sends what it is told and reads updates."""

    def __init__(self, client: WebClient, ticket: str):
        self.ws = client.view_socket(ticket)
        self.ws.settimeout(20)
        rfb_open(self.ws)
        self.buf = b""
        self.send(struct.pack(">BxH2i", 2, 2, RAW, QEMU_KEY))

    def send(self, data: bytes) -> None:
        self.ws.write_message(data)

    def _need(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.ws.read_message()
            if data is None:
                raise ConnectionError(f"session closed: {self.ws.close_code} {self.ws.close_reason}")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def update(self) -> None:
        """Ask for one pixel and read server messages up to its FramebufferUpdate: everything sent
        before it has been through the gateway and the agent to the VNC server (one ordered stream)."""
        self.send(struct.pack(">BBHHHH", 3, 0, 0, 0, 1, 1))
        while True:
            kind = self._need(1)[0]
            if kind == 0:  # FramebufferUpdate
                (count,) = struct.unpack(">xH", self._need(3))
                pixels = 0
                for _ in range(count):
                    _x, _y, w, h, encoding = struct.unpack(">HHHHi", self._need(12))
                    if encoding == RAW:
                        self._need(w * h * 4)
                        pixels += w * h
                if pixels:
                    return
            elif kind == 2:  # Bell
                continue
            elif kind == 3:  # ServerCutText
                (length,) = struct.unpack(">3xI", self._need(7))
                self._need(length)
            else:
                raise AssertionError(f"unexpected server message {kind}")

    def act(self) -> None:
        """Pointer move and click, a key, a QEMU key, clipboard text: all a person does."""
        for mask in (0, 1, 0):
            self.send(struct.pack(">BBHH", 5, mask, 200, 150))
        for down in (1, 0):
            self.send(struct.pack(">BBHI", 4, down, 0, ord("q")))
        for down in (1, 0):
            self.send(struct.pack(">BBHII", 255, 0, down, ord("w"), 0x11))  # XT scancode of w
        text = b"from the viewer"
        self.send(struct.pack(">B3xI", 6, len(text)) + text)
        self.update()

    def close(self) -> None:
        self.ws.close_with(1000, "done")


def clipboard_owned(display: int) -> bool:
    """Whether any X client owns CLIPBOARD on ``display`` (Xvnc does once a viewer's text arrived)."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XGetSelectionOwner.restype = ctypes.c_ulong
    x11.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(f":{display}".encode())
    assert dpy, f"cannot open display :{display}"
    try:
        return x11.XGetSelectionOwner(dpy, x11.XInternAtom(dpy, b"CLIPBOARD", 0)) != 0
    finally:
        x11.XCloseDisplay(dpy)


def pointer(stack) -> str:
    return stack.vnc.x("xdotool", "getmouselocation").stdout.split(" screen")[0]


@pytest.fixture
def xev_log(stack, tmp_path):
    log = tmp_path / "xev.txt"
    xev = subprocess.Popen(["xev", "-root", "-event", "keyboard", "-event", "button"], env=stack.vnc.env,
                           stdout=open(log, "w"), stderr=subprocess.STDOUT)
    time.sleep(0.5)
    yield log
    xev.terminate()
    xev.wait(5)


def test_a_watching_admin_changes_nothing_on_the_pc_and_the_person_is_told(stack, xev_log):
    stack.vnc.x("xdotool", "mousemove", "10", "10")
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    issued = emp.open_session("office-pc")
    own = RawViewer(emp, issued["ticket"])
    boss = WebClient(stack.gateway.url, "boss", "bosspass12")  # admin, no grant on office-pc
    shadow = boss.json("POST", f"/api/v1/sessions/{issued['session']}/shadow", json_body={"control": False})
    assert shadow["view_only"] is True
    watcher = RawViewer(boss, shadow["ticket"])
    try:
        watcher.update()  # the screen still comes: update requests are forwarded
        notices = wait_for(lambda: (lambda n: n if n["watchers"] else None)(
            emp.json("GET", f"/api/v1/sessions/{issued['session']}/notices")), timeout=10, what="notice")
        assert notices["watchers"] == [{"user": "boss", "kind": "shadow", "control": False}]
        watcher.act()
        time.sleep(0.5)
        assert pointer(stack) == "x:10 y:10"
        assert "KeyPress" not in xev_log.read_text() and "ButtonPress" not in xev_log.read_text()
        assert not clipboard_owned(stack.vnc.display)

        own.act()  # the person's own session: the same messages act
        wait_for(lambda: "ButtonPress" in xev_log.read_text() and "keysym 0x71, q" in xev_log.read_text()
                 and "keysym 0x77, w" in xev_log.read_text(), timeout=10, what="xev to see key, QEMU key, click")
        assert pointer(stack) == "x:200 y:150"
        assert clipboard_owned(stack.vnc.display)
    finally:
        watcher.close()
        own.close()
    audit = boss.json("GET", "/api/v1/audit")
    rows = audit.get("audit", audit.get("events", []))
    assert any(r.get("action") == "session_shadow" and issued["session"] in r.get("detail", "") for r in rows), rows[:5]


def issue_with_terms(stack, emp: WebClient, terms):
    """A ticket for ``emp``'s office-pc with ``terms`` as a policy would decide them when the
    session is opened (issue 14): issued the way sessions.issue() does, into the gateway's own
    Redis. Returns (session id, ticket, the live store)."""
    import redis

    from gateway.live import LiveStore, Ticket

    me = emp.json("GET", "/api/v1/me")
    machine = next(m for m in emp.json("GET", "/api/v1/me/machines")["machines"] if m["name"] == "office-pc")
    store = LiveStore(redis.Redis.from_url(stack.gateway.redis_url), stack.gateway.extra_env["PONTE_REDIS_PREFIX"])
    session = uuid.uuid4().hex
    user_id = me.get("id", me.get("user", {}).get("id"))
    store.session_pending(session, {"state": "pending", "user": "emp", "user_id": user_id, "machine": "office-pc",
                                    "machine_id": machine["id"], "client_ip": "127.0.0.1", "issued": time.time(),
                                    "view_only": 0, "kind": "user"}, ttl=60)
    return session, store.issue_ticket(Ticket(session, int(user_id), int(machine["id"]), terms), 30), store


def test_an_idle_timeout_ends_the_session_with_its_reason_in_the_history(stack):
    from gateway.terms import SessionTerms

    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    session, ticket, _store = issue_with_terms(stack, emp, SessionTerms(idle_timeout=3))
    viewer = RawViewer(emp, ticket)
    started = time.monotonic()
    viewer.update()  # update requests are not input: they do not keep the session open
    with pytest.raises(ConnectionError, match="Ended after 3 seconds without input"):
        while time.monotonic() - started < 15:
            viewer.update()
            time.sleep(0.3)
    assert 2.5 < time.monotonic() - started < 6
    status = emp.json("GET", f"/api/v1/sessions/{session}")
    assert status["end_reason"] == "Ended after 3 seconds without input"
    assert status["reconnect"] is False  # the viewer page does not reconnect by itself
    history = WebClient(stack.gateway.url, "boss", "bosspass12").json("GET", "/api/v1/history")["history"]
    row = next(r for r in history if r.get("id", r.get("session")) == session)
    assert row["end_reason"] == "Ended after 3 seconds without input", json.dumps(row)


HOLD_WRITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def test_the_viewer_asking_before_the_end_is_in_sql_hears_it_from_the_live_record(stack):
    """The viewer asks how its session ended the instant its socket closes; the history row's
    end is written after that close, and here SQL cannot take it at all (another process holds
    SQLite's write lock: the end is journaled). Asked then, and again a second later, the answer
    is the end itself, never "reconnect" (``gateway.ending``)."""
    import sys

    from gateway.terms import SessionTerms

    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    session, ticket, _store = issue_with_terms(stack, emp, SessionTerms(idle_timeout=3))
    viewer = RawViewer(emp, ticket)
    viewer.update()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(stack.gateway.instance / "ponte.db"), "8"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConnectionError, match="Ended after 3 seconds without input"):
            for _ in range(50):
                viewer.update()
                time.sleep(0.3)
        answers = [emp.json("GET", f"/api/v1/sessions/{session}")]
        time.sleep(1)
        answers.append(emp.json("GET", f"/api/v1/sessions/{session}"))
        for status in answers:
            assert (status["state"], status["reconnect"], status["end_reason"]) == (
                "ended", False, "Ended after 3 seconds without input"), answers
    finally:
        holder.kill()
        holder.wait(10)
    # SQL back: the journal writes the row's end, which then answers the same
    wait_for(lambda: _row_ended(stack, session), timeout=60, interval=1, what="the journal writes the row's end")
    assert emp.json("GET", f"/api/v1/sessions/{session}") == answers[0]


def _row_ended(stack, session: str) -> bool:
    history = WebClient(stack.gateway.url, "boss", "bosspass12").json("GET", "/api/v1/history")["history"]
    row = next((r for r in history if r.get("id", r.get("session")) == session), None)
    return row is not None and row.get("ended_at") is not None


def test_an_idle_end_is_told_in_the_viewers_language_and_kept_in_english(stack):
    """Issue 13: the viewer of a person who reads Italian is told in Italian; the history keeps
    the stable English sentence (and translates it when it shows it)."""
    from gateway.terms import SessionTerms

    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    status, _headers, _body = emp.http.request("POST", "/language", form={"locale": "it",
                                                                          "csrf_token": emp.forwarder.csrf})
    assert status == 302, status
    try:
        session, ticket, _store = issue_with_terms(stack, emp, SessionTerms(idle_timeout=2))
        viewer = RawViewer(emp, ticket)
        started = time.monotonic()
        with pytest.raises(ConnectionError, match="Chiusa dopo 2 secondi senza input"):
            while time.monotonic() - started < 15:
                viewer.update()
                time.sleep(0.3)
        status = emp.json("GET", f"/api/v1/sessions/{session}")
        assert status["end_reason"] == "Ended after 2 seconds without input"
        assert status["end_reason_text"] == "Chiusa dopo 2 secondi senza input"
        history = WebClient(stack.gateway.url, "boss", "bosspass12").json("GET", "/api/v1/history")["history"]
        row = next(r for r in history if r.get("id", r.get("session")) == session)
        assert row["end_reason"] == "Ended after 2 seconds without input", json.dumps(row)
    finally:
        emp.http.request("POST", "/language", form={"locale": "en", "csrf_token": emp.forwarder.csrf})
