"""The control conversation's state machines (agents/protocol/control.py), as transcripts.

``>>``: the connection under test sends; ``<<``: the peer's message arrives
(``tests/support/playbook.py``). Our mistakes raise ``LocalProtocolError``,
the peer's ``RemoteProtocolError`` (h11's split); both are ``ControlError``.
"""

from __future__ import annotations

import pytest

from agents.protocol.control import (AgentConnection, AgentInfo, Attach, ControlError, GatewayConnection, Heartbeat,
                                     Hello, LocalProtocolError, OpenStream, Reconnect, Refused, RemoteProtocolError,
                                     RetryVnc, State, StreamFailed, Welcome)
from tests.support.playbook import Playbook

INFO = AgentInfo(version="1", os="Linux", hostname="pc", vnc_ok=True, vnc_state="ok")
HELLO = Hello(credential="m1.secret", info=INFO)
WELCOME = Welcome(machine="pc", heartbeat=20.0)


# -- the agent's side --------------------------------------------------------------------------------

def test_agent_serves_after_a_welcome():
    pb = Playbook(AgentConnection())
    assert pb.state is State.HELLO
    pb >> HELLO
    assert pb.state is State.WELCOME
    pb << WELCOME
    assert pb.state is State.OPEN
    (pb >> Heartbeat(info=INFO) << OpenStream(session="s1", token="t") >> StreamFailed(session="s1", reason="no VNC")
     << RetryVnc() << Refused(code="revoked", message="gone") << Reconnect(after=2.0, reason="draining"))
    assert pb.state is State.OPEN
    assert [d for d, _e, _b in pb.transcript] == [">>", "<<", ">>", "<<", ">>", "<<", "<<", "<<"]


def test_agent_refused_is_closed():
    pb = Playbook(AgentConnection()) >> HELLO << Refused(code="unknown", message="Unknown machine credential.")
    assert pb.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        pb >> Heartbeat(info=INFO)
    with pytest.raises(RemoteProtocolError, match="unexpected OpenStream"):
        pb << OpenStream(session="s", token="t")


def test_agent_check_ends_with_the_welcome():
    pb = Playbook(AgentConnection()) >> Hello(credential="c", info=AgentInfo(), mode="check") << WELCOME
    assert pb.state is State.CLOSED


def test_agent_mistakes_are_local():
    conn = AgentConnection()
    for early in (Heartbeat(info=INFO), StreamFailed(session="s", reason="r"), WELCOME, Attach(token="t")):
        with pytest.raises(LocalProtocolError, match="may not be sent in state HELLO"):
            conn.send(early)
    assert conn.state is State.HELLO
    Playbook(conn) >> HELLO
    with pytest.raises(LocalProtocolError, match="state WELCOME"):
        conn.send(Heartbeat(info=INFO))  # not before the welcome
    with pytest.raises(LocalProtocolError):
        conn.send(HELLO)  # nor twice
    with pytest.raises(LocalProtocolError, match="dict may not be sent"):
        conn.send({"type": "hello"})
    assert issubclass(LocalProtocolError, ControlError) and issubclass(RemoteProtocolError, ControlError)


def test_agent_peer_mistakes_are_remote():
    pb = Playbook(AgentConnection()) >> HELLO
    with pytest.raises(RemoteProtocolError, match="expected welcome") as err:
        pb << OpenStream(session="s", token="t")
    assert err.value.event == OpenStream(session="s", token="t")  # decoded, but out of turn
    pb << WELCOME
    with pytest.raises(RemoteProtocolError, match="unexpected Welcome"):
        pb << WELCOME
    with pytest.raises(RemoteProtocolError, match="not JSON") as err:
        pb << b"\xff junk"
    assert err.value.event is None
    with pytest.raises(RemoteProtocolError, match="unexpected control message type 'hello'"):
        pb << HELLO  # the agent's own kind of message, from the gateway
    assert pb.state is State.OPEN


def test_agent_hears_nothing_before_its_hello():
    with pytest.raises(RemoteProtocolError, match="unexpected Welcome"):
        Playbook(AgentConnection()) << WELCOME


# -- the gateway's side ------------------------------------------------------------------------------

def test_gateway_welcomes_then_hears_heartbeats():
    pb = Playbook(GatewayConnection()) << HELLO
    assert pb.state is State.WELCOME
    pb >> WELCOME
    assert pb.state is State.OPEN
    (pb << Heartbeat(info=INFO) >> OpenStream(session="s", token="t") << StreamFailed(session="s", reason="r")
     >> RetryVnc() >> Reconnect(after=1.0, reason="draining") << Heartbeat(info=INFO)
     >> Refused(code="revoked", message="This machine's credential was revoked."))
    assert pb.state is State.OPEN


@pytest.mark.parametrize("answer", [Refused(code="unavailable", message="try again"),
                                    Refused(code="unknown", message="Unknown machine credential.")])
def test_gateway_refusal_closes(answer):
    pb = Playbook(GatewayConnection()) << HELLO >> answer
    assert pb.state is State.CLOSED
    with pytest.raises(RemoteProtocolError):
        pb << Heartbeat(info=INFO)
    with pytest.raises(LocalProtocolError):
        pb >> OpenStream(session="s", token="t")


def test_gateway_check_closes_after_its_welcome():
    pb = Playbook(GatewayConnection()) << Hello(credential="c", info=AgentInfo(), mode="check") >> WELCOME
    assert pb.state is State.CLOSED


def test_gateway_peer_mistakes_are_remote():
    with pytest.raises(RemoteProtocolError, match="expected hello"):
        Playbook(GatewayConnection()) << Heartbeat(info=INFO)
    pb = Playbook(GatewayConnection()) << HELLO
    with pytest.raises(RemoteProtocolError, match="unexpected Heartbeat in state WELCOME"):
        pb << Heartbeat(info=INFO)  # before we answered
    pb >> WELCOME
    with pytest.raises(RemoteProtocolError, match="unexpected hello"):
        pb << HELLO
    with pytest.raises(RemoteProtocolError, match="larger than"):
        pb << b"{" + b" " * 20000 + b"}"


def test_gateway_mistakes_are_local():
    conn = GatewayConnection()
    with pytest.raises(LocalProtocolError):
        conn.send(WELCOME)  # no hello yet
    Playbook(conn) << HELLO
    for wrong in (OpenStream(session="s", token="t"), Heartbeat(info=INFO), HELLO):
        with pytest.raises(LocalProtocolError):
            conn.send(wrong)
    assert conn.state is State.WELCOME


def test_the_two_sides_agree():
    """Bytes of one side's ``send`` are what the other side's ``receive`` takes, at every step."""
    agent, gateway = AgentConnection(), GatewayConnection()
    assert gateway.receive(agent.send(HELLO)) == [HELLO]
    assert agent.receive(gateway.send(WELCOME)) == [WELCOME]
    assert gateway.receive(agent.send(Heartbeat(info=INFO))) == [Heartbeat(info=INFO)]
    assert agent.receive(gateway.send(OpenStream(session="s", token="t"))) == [OpenStream(session="s", token="t")]
    assert agent.state is gateway.state is State.OPEN
