"""Wake-on-LAN through real agents in network namespaces the test builds (issue 11 §5).

The office (``tests/support/netlan.py``): the sleeping PC's agent said hello once and
stopped; its neighbour's agent, in another namespace on the same subnet, is online. An
employee asks to wake it; the neighbour sends the magic packet and a listener in the
sleeper's namespace must see exactly 6 × 0xFF + 16 × its MAC, from the neighbour's
address; then the "woken" PC's agent starts and its tile goes online.
"""

from __future__ import annotations

import pytest

from agents.protocol import wol
from tests.conftest import needs
from tests.support import WebClient, wait_for
from tests.support.netlan import SLEEPER_MAC, SUBNET, WAKER_IP, lan, sleeping_office  # noqa: F401 (lan: a fixture)

pytestmark = [needs("Xvnc", "ip"), pytest.mark.slow]


def _tile(web: WebClient, name: str) -> dict:
    return {m["name"]: m for m in web.json("GET", "/api/v1/me/machines")["machines"]}[name]


def test_a_neighbour_wakes_the_sleeping_pc_and_its_tile_goes_online(lan, tmp_path, redis_server):  # noqa: F811
    with sleeping_office(lan, tmp_path, redis_server) as office:
        web = WebClient(office.url, "emp", "emppass12")
        tile = _tile(web, "sleeper-pc")
        assert tile["state"] == "offline" and tile["wakeable"] is True, tile

        listener = office.listen()
        answer = web.json("POST", "/api/v1/machines/sleeper-pc/wake", json_body={})
        assert answer["waking"] is True and answer["senders"] == 1 and answer["timeout"] == 120.0

        host, data = office.received(listener)
        assert host == WAKER_IP  # sent by the neighbour in namespace a, over the LAN
        assert data == b"\xff" * 6 + bytes.fromhex(SLEEPER_MAC.replace(":", "")) * 16
        assert data == wol.magic_packet(SLEEPER_MAC)
        # The agent logs after it sent: the packet can arrive first.
        wait_for(lambda: f"sent the magic packet for 02:77:00:00:00:03 to {SUBNET.broadcast_address}"
                 in office.waker.log_text(), timeout=5, interval=0.1, what="the waker's log line")

        # The card woke the PC: its agent starts, and the tile the employee watches goes online.
        office.sleeper.start()
        tile = wait_for(lambda: (t := _tile(web, "sleeper-pc"))["state"] == "online" and t, timeout=30,
                        interval=0.3, what="the woken PC's tile online")
        assert tile["available"] is True and tile["wakeable"] is False
