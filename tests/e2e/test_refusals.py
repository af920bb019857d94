"""Each refusal of issue 2, against a real gateway process, Redis and agent."""

from __future__ import annotations

import time

import pytest

from agents.transport import HTTPError, TransportError
from tests.conftest import needs
from tests.support import AgentProcess, WebClient, wait_for

pytestmark = needs("Xvnc")


def test_wrong_password_is_refused(stack):
    with pytest.raises(TransportError, match="refused"):
        WebClient(stack.gateway.url, "emp", "not-the-password")


@pytest.mark.parametrize("ref", ["office-pc", "1", "2", "999", "0", "-1", "office-pc%00", "1%20OR%201=1", "office-pc%27", "OFFICE-PC"])
def test_employee_without_grant_gets_403_whatever_they_send(stack, ref):
    other = WebClient(stack.gateway.url, "other", "otherpass1")
    with pytest.raises(HTTPError) as err:
        other.json("POST", f"/api/v1/machines/{ref}/sessions", json_body={})
    assert err.value.status == 403
    assert err.value.body["error"]["code"] == "forbidden"


def test_view_page_of_foreign_machine_is_403(stack):
    other = WebClient(stack.gateway.url, "other", "otherpass1")
    status, _h, body = other.http.request("GET", "/view/office-pc")
    assert status == 403 and b"You may not open this PC" in body


def test_reused_ticket_is_refused(stack):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    ticket = emp.open_session("office-pc")["ticket"]
    ws = emp.view_socket(ticket)
    ws.close_with(1000)
    with pytest.raises(TransportError, match="403"):
        emp.view_socket(ticket)


def test_ticket_of_another_user_is_refused_and_burnt(stack):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    boss = WebClient(stack.gateway.url, "boss", "bosspass12")
    ticket = emp.open_session("office-pc")["ticket"]
    with pytest.raises(TransportError, match="403"):
        boss.view_socket(ticket)
    # A ticket shown to the wrong person is gone, even for its owner.
    with pytest.raises(TransportError, match="403"):
        emp.view_socket(ticket)


def test_view_socket_without_login_is_refused(stack):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    ticket = emp.open_session("office-pc")["ticket"]
    with pytest.raises(TransportError, match="401"):
        emp.view_socket(ticket, cookie=False)


@pytest.mark.parametrize("ticket", [None, "", "x" * 500, "forged-ticket"])
def test_view_socket_without_valid_ticket_is_refused(stack, ticket):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    with pytest.raises(TransportError, match="403"):
        emp.view_socket(ticket)


@pytest.mark.parametrize("origin", ["https://evil.example", "null", None, "http://127.0.0.1:1"])
def test_view_socket_from_foreign_origin_is_refused(stack, origin):
    emp = WebClient(stack.gateway.url, "emp", "emppass12")
    ticket = emp.open_session("office-pc")["ticket"]
    with pytest.raises(TransportError, match="403"):
        emp.view_socket(ticket, origin=origin)


def test_expired_ticket_is_refused(gateway_factory):
    gw = gateway_factory(PONTE_TICKET_TTL="1")
    gw.add_user("emp", "emppass12")
    gw.add_machine("pc")
    gw.cli("grant", "emp", "pc")
    emp = WebClient(gw.url, "emp", "emppass12")
    ticket = emp.open_session("pc")["ticket"]
    time.sleep(1.6)
    with pytest.raises(TransportError, match="403"):
        emp.view_socket(ticket)


def test_reused_enrolment_code_is_refused(gateway_factory, tmp_path):
    gw = gateway_factory()
    code = gw.add_machine("pc")
    first = AgentProcess(tmp_path / "a1", gw.url, None)
    first.enroll(code)
    second = AgentProcess(tmp_path / "a2", gw.url, None)
    res = second.enroll(code, check=False)
    assert res.returncode == 3
    assert "unknown, used or expired" in res.stderr
    assert not second.credential.exists()


def test_unknown_credential_is_refused_and_agent_stops(gateway_factory, tmp_path):
    gw = gateway_factory()
    agent = AgentProcess(tmp_path / "a", gw.url, None)
    agent.workdir.mkdir(parents=True)
    agent.credential.write_text(f'gateway = "{gw.url}"\ncredential = "1.forged-secret"\n')
    agent.start()
    assert agent.proc.wait(20) == 3
    assert "refused this PC's credential" in agent.log_text()


def test_revoked_credential_is_refused(gateway_factory, agent_factory, vnc_factory):
    gw = gateway_factory()
    vnc = vnc_factory()
    agent = agent_factory(gw, "pc", vnc)
    gw.cli("machine", "revoke", "pc")
    # The running agent is disconnected at once and stops retrying.
    assert agent.proc.wait(20) == 3
    wait_for(lambda: gw.machine_state("pc") == "revoked", timeout=5, what="revoked state")
    # Starting it again with the same credential is refused too.
    agent.start()
    assert agent.proc.wait(20) == 3
    assert "revoked" in agent.log_text()
