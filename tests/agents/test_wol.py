"""Wake-on-LAN, pure parts: the magic packet, MACs, interfaces, who shares a subnet."""

import pytest

from agents.protocol import wol
from agents.protocol.errors import ProtocolError, WakeError


def test_magic_packet_is_six_ff_then_sixteen_macs():
    packet = wol.magic_packet("3C-7C-3F-1A-2B-3C")
    assert len(packet) == 102
    assert packet[:6] == b"\xff" * 6
    assert packet[6:] == bytes.fromhex("3c7c3f1a2b3c") * 16


@pytest.mark.parametrize("text", ["3c:7c:3f:1a:2b:3c", "3C-7C-3F-1A-2B-3C", "3c7c3f1a2b3c", " 3c:7c:3f:1a:2b:3c "])
def test_mac_forms_are_normalised(text):
    assert wol.normalise_mac(text) == "3c:7c:3f:1a:2b:3c"


@pytest.mark.parametrize("text", ["", "3c:7c:3f:1a:2b", "3c:7c-3f:1a:2b:3c", "zz:7c:3f:1a:2b:3c",
                                  "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", 42])
def test_bad_macs_are_refused(text):
    with pytest.raises(WakeError):
        wol.normalise_mac(text)
    assert issubclass(WakeError, ProtocolError) and issubclass(WakeError, ValueError)


def test_interface_computes_a_missing_broadcast_and_checks_fields():
    iface = wol.interface("3c:7c:3f:1a:2b:3c", "10.20.30.40", 23)
    assert iface.broadcast == "10.20.31.255"
    assert str(iface.network) == "10.20.30.0/23"
    assert wol.from_dict(iface.as_dict()) == iface
    for bad in ({"mac": "3c:7c:3f:1a:2b:3c", "address": "10.0.0.300", "prefix": 24},
                {"mac": "3c:7c:3f:1a:2b:3c", "address": "10.0.0.3", "prefix": 33},
                {"mac": "3c:7c:3f:1a:2b:3c", "address": "10.0.0.3", "prefix": True},
                {"mac": "3c:7c:3f:1a:2b:3c", "address": "10.0.0.3", "prefix": 24, "broadcast": "x"},
                "not an object"):
        with pytest.raises(WakeError):
            wol.from_dict(bad)


def test_shared_subnet_finds_the_sleepers_card():
    sleeper = [wol.interface("3c:7c:3f:1a:2b:3c", "192.168.10.23", 24),
               wol.interface("02:42:8f:33:44:55", "172.17.0.1", 16)]
    neighbour = [wol.interface("00:16:3e:5a:6b:7c", "192.168.10.99", 24)]
    elsewhere = [wol.interface("00:16:3e:5a:6b:7d", "192.168.11.99", 24)]
    assert wol.shared_subnet(sleeper, neighbour) == sleeper[0]
    assert wol.shared_subnet(sleeper, elsewhere) is None
    assert wol.shared_subnet([], neighbour) is None


def test_wakeable_drops_loopback_link_local_and_point_to_point():
    kept = wol.interface("3c:7c:3f:1a:2b:3c", "192.168.10.23", 24)
    found = wol.wakeable([kept, kept,
                          wol.interface("3c:7c:3f:1a:2b:3d", "127.0.0.1", 8),
                          wol.interface("3c:7c:3f:1a:2b:3e", "169.254.3.4", 16),
                          wol.interface("3c:7c:3f:1a:2b:3f", "10.0.0.1", 32)])
    assert found == [kept]
