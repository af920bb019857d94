"""The relay enforces a session's terms: view-only drops input, idle timeout and maximum duration end it.

Real WebSockets on socket pairs (gevent's, so the relay's greenlets and the test's share one
loop): a viewer end that masks, an agent end that reads what the relay forwards.
"""

from __future__ import annotations

import struct
import time

import gevent
import gevent.socket
import pytest

from agents.websocket import FramedWebSocket
from gateway.relay import Relay
from gateway.terms import SessionTerms

HELLO = b"RFB 003.008\n\x01\x01"
KEY = struct.pack(">BBHI", 4, 1, 0, 0x61)
POINTER = struct.pack(">BBHH", 5, 1, 100, 100)
UPDATE = struct.pack(">BBHHHH", 3, 1, 0, 0, 640, 480)
CUT = struct.pack(">B3xI", 6, 3) + b"abc"
XVP_REBOOT = struct.pack(">BxBB", 250, 1, 3)


class Session:
    def __init__(self, terms: SessionTerms, **kwargs):
        v_relay, v_test = gevent.socket.socketpair()
        a_relay, a_test = gevent.socket.socketpair()
        self.viewer = FramedWebSocket.established(v_test, client=True)
        self.agent = FramedWebSocket.established(a_test, client=True)
        self.notices: list[dict] = []
        self.relay = Relay("s-terms", FramedWebSocket.established(v_relay, client=False),
                           FramedWebSocket.established(a_relay, client=False), machine_id=1, user_id=2,
                           terms=terms, on_notice=self.notices.append, **kwargs)
        self.run = gevent.spawn(self.relay.run)

    def agent_receives(self, n: int, timeout: float = 5) -> bytes:
        got = b""
        with gevent.Timeout(timeout):
            while len(got) < n:
                got += self.agent.read_message()
        return got

    def result(self, timeout: float = 10):
        return self.run.get(timeout=timeout)

    def viewer_closed(self) -> bool:
        """Read to the viewer's close; a ping the relay sent before it closed (the first round-trip
        probe) gets its pong refused by the closed socket on the way, as a browser's would be."""
        for _ in range(10):
            try:
                return self.viewer.read_message() is None
            except BrokenPipeError:
                continue
        return False


def test_view_only_forwards_the_screen_requests_and_drops_keys_pointer_clipboard_and_reboot():
    s = Session(SessionTerms(view_only=True))
    s.viewer.write_message(HELLO)
    s.viewer.write_message(KEY + POINTER + UPDATE[:4])
    s.viewer.write_message(UPDATE[4:] + CUT + XVP_REBOOT)
    s.viewer.write_message(UPDATE)
    assert s.agent_receives(len(HELLO) + 2 * len(UPDATE)) == HELLO + UPDATE + UPDATE
    s.relay.stop("test over")
    assert s.result().reason == "test over"
    # Every byte the viewer sent is counted, forwarded or not.
    assert s.relay.from_viewer == len(HELLO + KEY + POINTER + UPDATE + CUT + XVP_REBOOT + UPDATE)


def test_an_idle_timeout_session_forwards_input_and_the_input_keeps_it_open():
    s = Session(SessionTerms(idle_timeout=2))
    s.viewer.write_message(HELLO + KEY)
    assert s.agent_receives(len(HELLO + KEY)) == HELLO + KEY
    for _ in range(3):  # 3 s of input every 0.8 s: more than the timeout, never idle that long
        gevent.sleep(0.8)
        s.viewer.write_message(POINTER)
        assert s.agent_receives(len(POINTER)) == POINTER
    assert not s.relay.ended
    started = time.monotonic()
    s.viewer.write_message(UPDATE)  # not input: does not count
    result = s.result()
    assert result.reason == "Ended after 2 seconds without input"
    assert 1.5 < time.monotonic() - started < 3.5
    assert s.relay.ended_by_terms
    assert s.viewer_closed() and s.viewer.close_reason == "Ended after 2 seconds without input"


def test_the_idle_warning_is_published_and_withdrawn_when_input_comes():
    s = Session(SessionTerms(idle_timeout=5), end_words={"idle": "Ended after 5 seconds without input (it)"})
    s.viewer.write_message(HELLO)
    gevent.sleep(4.3)  # the warning is on for the last 20 %: from 4 s
    assert len(s.notices) == 1 and abs(float(s.notices[0]["idle_ends_at"]) - (time.time() + 0.7)) < 1.5
    s.viewer.write_message(KEY)
    gevent.sleep(1.3)
    assert s.notices[-1] == {"idle_ends_at": ""}
    assert s.relay.live_fields["idle_ends_at"] == ""  # re-asserted so after a Redis restart
    # The history keeps the English sentence; the viewer reads the words it was given.
    assert s.result().reason == "Ended after 5 seconds without input"
    assert s.viewer_closed() and s.viewer.close_reason == "Ended after 5 seconds without input (it)"


def test_the_maximum_duration_ends_a_session_with_input():
    s = Session(SessionTerms(max_duration=2))
    s.viewer.write_message(HELLO)
    with gevent.Timeout(5):
        while not s.relay.ended:
            s.viewer.write_message(KEY)
            gevent.sleep(0.2)
    assert s.result().reason == "Maximum session length reached"
    assert any(n.get("ends_at") for n in s.notices)


def test_a_viewer_that_breaks_the_protocol_ends_the_session_with_why():
    s = Session(SessionTerms(view_only=True))
    s.viewer.write_message(HELLO + b"\x07junk")
    result = s.result()
    assert "message type 7" in result.reason
    assert s.agent_receives(len(HELLO)) == HELLO
    assert s.viewer_closed() and s.viewer.close_code == 1008


@pytest.mark.parametrize("terms", [SessionTerms(), SessionTerms(max_duration=60)])
def test_sessions_without_view_only_or_idle_timeout_keep_the_cut_through_pump(terms):
    s = Session(terms)
    assert not s.relay._reads_input
    s.viewer.write_message(HELLO + b"\x07anything")  # not read: relayed as bytes
    assert s.agent_receives(len(HELLO) + 9) == HELLO + b"\x07anything"
    s.relay.stop("test over")
    s.result()
