"""Junk never crashes the agent (property-based, with real sockets on 127.0.0.1).

* from the VNC server: whatever bytes a "VNC server" sends, ``vnc.connect`` fails with
  ``VNCUnavailable`` (a kind and a sentence), never anything else;
* from the gateway: whatever arrives on the control channel after Welcome — a message with
  junk in it, or raw junk in place of WebSocket frames — ``Agent.serve_once`` ends with one of
  the errors ``run_forever`` turns into a reconnect.
"""

from __future__ import annotations

import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import vnc
from agents.config import AgentSettings
from agents.protocol import control
from agents.websocket import FramingError
from agents.runtime import Agent, CredentialRefused
from agents.transport import TransportError
from tests.agents.conftest import OneShotServer, accept_ws

RECONNECT_ERRORS = (TransportError, FramingError, control.ControlError, OSError)


@pytest.fixture(scope="module")
def server():
    s = OneShotServer()
    yield s
    s.close()


# --------------------------------------------------------------------------- from the VNC server

rfb_starts = st.sampled_from([b"", b"RFB 003.003\n", b"RFB 003.007\n", b"RFB 003.008\n", b"RFB 003.889\n",
                              b"RFB 003.008\n\x01\x01", b"RFB 003.008\n\x01\x02", b"RFB 003.003\n\x00\x00\x00\x02",
                              b"RFB 003.008\n\x01\x01\x00\x00\x00\x00"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=rfb_starts, junk=st.binary(max_size=300), password=st.sampled_from([None, "pw"]))
def test_vnc_junk_only_raises_vnc_unavailable(server, start, junk, password):
    def script(conn):
        conn.sendall(start + junk)
        conn.shutdown(socket.SHUT_WR)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass

    server.script = script
    try:
        sock, complete = vnc.connect("127.0.0.1", server.port, password, timeout=2)
    except vnc.VNCUnavailable as exc:
        assert exc.kind in vnc.KINDS and f"VNC server at 127.0.0.1:{server.port}" in str(exc)
    else:  # the junk happened to be a valid handshake
        sock.close()
        assert complete.server_init.width >= 0


# --------------------------------------------------------------------------- from the gateway


WELCOME = control.encode(control.Welcome(machine="pc", heartbeat=1))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                           max_leaves=8)
messages = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda kind, extra: json.dumps({"type": kind, **extra}).encode(),
              st.sampled_from(["welcome", "refused", "open", "end", "hello", "bogus"]),
              st.dictionaries(st.sampled_from(["code", "message", "session", "token", "reason", "machine",
                                               "heartbeat"]), json_values, max_size=4)),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages, raw=st.booleans())
def test_gateway_junk_after_welcome_means_reconnect(server, message, raw):
    def script(conn):
        ws = accept_ws(conn)
        ws.settimeout(5)
        first = ws.read_message() or b""
        if b'"hello"' not in first:  # a stream that junk (a valid "open") made the agent open
            return
        ws.write_message(WELCOME)
        if raw:
            conn.sendall(message)  # not even WebSocket framing
        else:
            ws.write_message(message)
        conn.shutdown(socket.SHUT_WR)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass

    server.script = script
    agent = Agent(AgentSettings(insecure_dev=True, vnc_port=1), f"http://127.0.0.1:{server.port}", "1.secret")
    try:
        agent.serve_once()
    except CredentialRefused:  # a well-formed refusal with a final code: stopping is right
        assert json.loads(message)["type"] == "refused"
    except RECONNECT_ERRORS:
        pass
    finally:
        agent.stop()
