"""The agent logs in to the VNC server while it dials the session's stream (``agents.stream``)."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

from agents import stream as stream_mod
from agents.errors import TransportError


class _Login:
    def __init__(self, sock):
        self.sock = sock


def test_the_vnc_login_runs_while_the_stream_dials_and_is_closed_when_the_dial_fails(monkeypatch):
    ours, theirs = socket.socketpair()
    times = {}

    def login():
        times["login_started"] = time.monotonic()
        time.sleep(0.3)
        return _Login(ours)

    def dial(url, tls):
        time.sleep(0.3)
        times["dial_ended"] = time.monotonic()
        raise TransportError("the gateway is not there")

    monkeypatch.setattr(stream_mod, "open_websocket", dial)
    failures = []
    stream = stream_mod.Stream(SimpleNamespace(tls=None), "http://127.0.0.1:9", "s" * 32, "token",
                               login=login, on_failure=lambda session, why: failures.append(why))
    started = time.monotonic()
    stream.run()
    assert times["login_started"] < times["dial_ended"]          # at the same time, not one after the other
    assert time.monotonic() - started < 0.5
    assert failures and "could not open the stream" in failures[0]
    theirs.settimeout(5)
    assert theirs.recv(1) == b""  # the login's VNC connection, made for nothing, was closed
    theirs.close()


def test_a_login_that_failed_is_raised_where_the_stream_asks_for_it():
    from agents.errors import VNCUnavailable

    def login():
        raise VNCUnavailable("wrong password", "auth")

    ahead = stream_mod.LoginAhead(login)
    try:
        ahead.result()
    except VNCUnavailable as exc:
        assert "wrong password" in str(exc)
    else:
        raise AssertionError("the login's failure was lost")
