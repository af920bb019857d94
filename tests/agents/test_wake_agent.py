"""The agent's side of Wake-on-LAN: interfaces on its hello, the magic packet sent on ``Wake``."""

from __future__ import annotations

import socket

from agents import interfaces, runtime, wake
from agents.config import AgentSettings
from agents.protocol import control, wol
from agents.runtime import Agent
from tests.support import wait_for

CARD = wol.interface("3c:7c:3f:1a:2b:3c", "192.168.10.23", 24, name="eth0")


def test_hello_info_carries_the_interfaces_read_at_start_and_every_few_minutes(monkeypatch):
    readings = [[CARD], []]
    monkeypatch.setattr(interfaces, "collect", lambda: readings.pop(0))
    clock = [1000.0]
    monkeypatch.setattr(runtime.time, "monotonic", lambda: clock[0])
    agent = Agent(AgentSettings(), "https://gw.example", "1.secret")
    agent.read_interfaces()
    assert agent.info().interfaces == (CARD,)
    clock[0] += runtime.INTERFACES_EVERY - 1
    agent.read_interfaces()  # too soon: not read again
    assert agent.info().interfaces == (CARD,) and readings == [[]]
    clock[0] += 1
    agent.read_interfaces()
    assert agent.info().interfaces == () and readings == []
    sent = control.decode_from_agent(control.encode(control.Hello(credential="c", info=agent.info())))
    assert sent.info.interfaces == ()


def test_wake_sends_the_magic_packet(monkeypatch):
    sent = []
    monkeypatch.setattr(runtime, "send_magic_packet", lambda mac, broadcast: sent.append((mac, broadcast)))
    agent = Agent(AgentSettings(), "https://gw.example", "1.secret")
    agent._handle(control.Wake(mac="00:1a:2b:3c:4d:5e", broadcast="192.168.10.255"))
    wait_for(lambda: sent, timeout=5, what="the wake thread")
    assert sent == [("00:1a:2b:3c:4d:5e", "192.168.10.255")]


def test_send_magic_packet_puts_the_exact_bytes_on_the_wire():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(5)
        assert wake.send_magic_packet("00-1A-2B-3C-4D-5E", "127.0.0.1", listener.getsockname()[1])
        for _ in range(wake.REPEAT):
            data, _addr = listener.recvfrom(2048)
            assert data == b"\xff" * 6 + bytes.fromhex("001a2b3c4d5e") * 16


def test_a_refused_send_is_logged_not_raised(caplog):
    assert wake.send_magic_packet("00:1a:2b:3c:4d:5e", "127.0.0.1", 0) is False  # port 0: the OS refuses
    assert "could not send the magic packet" in caplog.text
