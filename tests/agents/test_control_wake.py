"""Wake-on-LAN on the control channel: interfaces on hello, ``Wake`` from the gateway, as transcripts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.protocol import control, wol
from agents.protocol.control import (AgentConnection, AgentInfo, ControlError, GatewayConnection, Heartbeat, Hello,
                                     LocalProtocolError, RemoteProtocolError, State, Wake, Welcome)
from tests.support.playbook import Playbook

CARD = wol.interface("3c:7c:3f:1a:2b:3c", "192.168.10.23", 24, name="enp3s0")
INFO = AgentInfo(version="1", os="Linux", hostname="pc", vnc_ok=True, vnc_state="ok", interfaces=(CARD,))
HELLO = Hello(credential="m1.secret", info=INFO)
WELCOME = Welcome(machine="pc", heartbeat=20.0)
WAKE = Wake(mac="00:1a:2b:3c:4d:5e", broadcast="192.168.10.255")


def test_interfaces_travel_on_hello_and_heartbeat():
    pb = Playbook(GatewayConnection()) << HELLO >> WELCOME << Heartbeat(info=INFO)
    (_d, hello, data), = pb.transcript[:1]
    assert hello.info.interfaces == (CARD,)
    assert json.loads(data)["info"]["interfaces"] == [
        {"mac": "3c:7c:3f:1a:2b:3c", "address": "192.168.10.23", "prefix": 24, "broadcast": "192.168.10.255",
         "name": "enp3s0"}]


def test_gateway_sends_wake_once_open_and_the_agent_takes_it():
    gateway = Playbook(GatewayConnection()) << HELLO
    with pytest.raises(LocalProtocolError, match="state WELCOME"):
        gateway >> WAKE  # not before the welcome
    gateway >> WELCOME >> WAKE << Heartbeat(info=INFO) >> WAKE
    assert gateway.state is State.OPEN

    agent = Playbook(AgentConnection()) >> HELLO
    with pytest.raises(RemoteProtocolError, match="expected welcome"):
        agent << WAKE
    agent = Playbook(AgentConnection()) >> HELLO << WELCOME << WAKE
    assert agent.transcript[-1][1] == WAKE
    with pytest.raises(LocalProtocolError):
        agent >> WAKE  # the agent never asks the gateway to wake anyone


def test_wake_fields_are_normalised_and_checked():
    raw = b'{"type": "wake", "mac": "00-1A-2B-3C-4D-5E", "broadcast": "192.168.10.255"}'
    assert control.decode_from_gateway(raw) == WAKE
    for bad, error in (({"mac": "ff:ff:ff:ff:ff:ff", "broadcast": "10.0.0.255"}, "'mac'"),
                       ({"mac": 7, "broadcast": "10.0.0.255"}, "'mac'"),
                       ({"mac": "00:1a:2b:3c:4d:5e", "broadcast": "10.0.0.256"}, "'broadcast'"),
                       ({"mac": "00:1a:2b:3c:4d:5e"}, "'broadcast'")):
        with pytest.raises(RemoteProtocolError, match=error):
            control.decode_from_gateway(json.dumps({"type": "wake", **bad}).encode())
    with pytest.raises(RemoteProtocolError, match="unexpected control message type"):
        control.decode_from_agent(control.encode(WAKE))  # gateway-to-agent only


def _hello_with(interfaces) -> bytes:
    return json.dumps({"type": "hello", "credential": "c", "info": {"interfaces": interfaces}}).encode()


def test_bad_interfaces_are_the_peers_mistake():
    good = CARD.as_dict()
    for bad in ("x", {"mac": "a"}, [good] * (wol.MAX_INTERFACES + 1), [{**good, "mac": "00:00:00:00:00:00"}],
                [{**good, "prefix": "24"}], [{**good, "address": "::1"}], [{**good, "name": 5}]):
        with pytest.raises(RemoteProtocolError, match="'interfaces'"):
            control.decode_from_agent(_hello_with(bad))
    # An older agent says nothing about interfaces: none, not an error.
    assert control.decode_from_agent(b'{"type": "hello", "credential": "c", "info": {}}').info.interfaces == ()
    named = control.decode_from_agent(_hello_with([{**good, "name": "eth\x1b[31m0\u202e"}]))
    assert named.info.interfaces[0].name == "eth[31m0"


@settings(max_examples=200, deadline=None)
@given(interfaces=st.lists(st.dictionaries(st.sampled_from(["mac", "address", "prefix", "broadcast", "name"]),
                                           st.none() | st.integers(-1, 40) | st.text(max_size=20), max_size=5),
                           max_size=3),
       wake=st.dictionaries(st.sampled_from(["mac", "broadcast"]), st.none() | st.text(max_size=20), max_size=2))
def test_junk_interfaces_and_wakes_only_raise_control_error(interfaces, wake):
    for message, decoder in ((_hello_with(interfaces), control.decode_from_agent),
                             (json.dumps({"type": "wake", **wake}).encode(), control.decode_from_gateway)):
        try:
            decoder(message)
        except ControlError:
            pass
