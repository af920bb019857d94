"""VncGuard (agents/vncguard.py): one wrong password costs one login, whatever asks.

Against the small RFB 3.3 test server (VncAuth), which counts connections; the real
TightVNC version of this is test_wrong_password.py.
"""

from __future__ import annotations

import threading

from agents import vnc
from agents.config import AgentSettings
from agents.vncguard import VncGuard
from tests.agents.conftest import RFB33Server
from tests.support import wait_for


def guard_for(server, pwfile, changes=None):
    settings = AgentSettings(vnc_port=server.port, vnc_password_file=str(pwfile), vnc_timeout=5)
    return VncGuard(settings, on_change=(lambda: changes.append(1)) if changes is not None else None)


def test_wrong_password_then_no_more_tries_until_the_file_changes(tiny_servers, tmp_path):
    server = tiny_servers(RFB33Server, password="right-pw")
    pwfile = tmp_path / "pw"
    pwfile.write_text("wrong-pw\n")
    changes: list = []
    guard = guard_for(server, pwfile, changes)
    guard.check()
    assert (guard.ok, guard.kind) == (False, vnc.LOCKED) and guard.locked
    assert "rejected the password" in guard.detail and "stopped trying" in guard.detail
    wait_for(lambda: server.accepted == 1, timeout=5, what="the one login")
    for _ in range(5):  # checks and sessions: refused here, the server is not contacted
        guard.check()
        try:
            guard.login()
        except vnc.VNCUnavailable as exc:
            assert exc.kind == vnc.LOCKED and exc.employee == "The PC's VNC password in Ponte is wrong — ask your admin."
        else:
            raise AssertionError("a login went through with the wrong password")
    assert server.accepted == 1 and len(changes) == 1  # one state change, told once
    pwfile.write_text("right-pw\n")
    guard.check()
    assert guard.ok and not guard.locked and server.accepted == 2 and len(changes) == 2


def test_retry_tries_once_more(tiny_servers, tmp_path):
    server = tiny_servers(RFB33Server, password="right-pw")
    pwfile = tmp_path / "pw"
    pwfile.write_text("wrong-pw\n")
    guard = guard_for(server, pwfile)
    guard.check()
    guard.check()
    assert server.accepted == 1
    guard.retry()
    guard.check()
    guard.check()
    wait_for(lambda: server.accepted == 2, timeout=5, what="the retry's login")
    assert guard.locked and server.accepted == 2


def test_concurrent_sessions_cost_one_failed_login(tiny_servers, tmp_path):
    """Ten viewers click at once while the password is unknown to be good: logins run one at a
    time, so the first failure stops the other nine before they reach the server."""
    server = tiny_servers(RFB33Server, password="right-pw")
    pwfile = tmp_path / "pw"
    pwfile.write_text("wrong-pw\n")
    guard = guard_for(server, pwfile)
    kinds: list = []

    def session():
        try:
            guard.login().close()
        except vnc.VNCUnavailable as exc:
            kinds.append(exc.kind)

    threads = [threading.Thread(target=session) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert kinds == [vnc.LOCKED] * 10 and server.accepted == 1


def test_unreadable_password_file_is_a_credentials_problem(tiny_servers, tmp_path):
    server = tiny_servers(RFB33Server, password="right-pw")
    guard = guard_for(server, tmp_path / "missing")
    guard.check()
    assert guard.kind == vnc.CREDENTIALS and "cannot read vnc_password_file" in guard.detail
    assert server.accepted == 0
