"""Reading a PC's interfaces from captured outputs of ip, ifconfig and ipconfig."""

from pathlib import Path

from agents import interfaces
from agents.protocol.wol import Interface

CAPTURED = Path(__file__).parent / "captured"


def _read(name: str) -> str:
    return (CAPTURED / name).read_text(encoding="utf-8")


def test_ip_json_linux():
    found = interfaces.parse_ip_json(_read("ip-j-addr.json"))
    assert found == [Interface("3c:7c:3f:1a:2b:3c", "192.168.10.23", 24, "192.168.10.255", "enp3s0"),
                     Interface("02:42:8f:33:44:55", "172.17.0.1", 16, "172.17.255.255", "docker0")]


def test_ip_json_junk_is_no_interfaces():
    assert interfaces.parse_ip_json("not json") == []
    assert interfaces.parse_ip_json('{"a": 1}') == []
    assert interfaces.parse_ip_json('[1, {"link_type": "ether", "addr_info": [{"family": "inet"}]}]') == []


def test_ifconfig_macos_hex_netmask():
    found = interfaces.parse_ifconfig(_read("ifconfig-macos.txt"))
    assert found == [Interface("3c:22:fb:9a:bc:de", "192.168.1.42", 24, "192.168.1.255", "en0")]


def test_ifconfig_linux_net_tools():
    found = interfaces.parse_ifconfig(_read("ifconfig-nettools.txt"))
    assert found == [Interface("00:16:3e:5a:6b:7c", "10.20.30.40", 23, "10.20.31.255", "eth0")]


def test_ipconfig_all_in_german():
    found = interfaces.parse_ipconfig(_read("ipconfig-all-de.txt"))
    assert found == [
        Interface("00:1a:2b:3c:4d:5e", "192.168.178.31", 24, "192.168.178.255", "Ethernet-Adapter Ethernet"),
        Interface("00:ff:12:34:56:78", "10.8.0.6", 30, "10.8.0.7", "Ethernet-Adapter VPN")]


def test_ipconfig_all_in_english_autoconfiguration():
    text = ("Ethernet adapter Ethernet 2:\r\n\r\n"
            "   Physical Address. . . . . . . . . : 00-1A-2B-3C-4D-5F\r\n"
            "   Autoconfiguration IPv4 Address. . : 169.254.12.34(Preferred) \r\n"
            "   Subnet Mask . . . . . . . . . . . : 255.255.0.0\r\n"
            "Ethernet adapter Office:\r\n\r\n"
            "   Physical Address. . . . . . . . . : 00-1A-2B-3C-4D-60\r\n"
            "   IPv4 Address. . . . . . . . . . . : 10.1.2.3(Preferred) \r\n"
            "   Subnet Mask . . . . . . . . . . . : 255.255.255.0\r\n"
            "   Default Gateway . . . . . . . . . : 10.1.2.1\r\n")
    assert interfaces.parse_ipconfig(text) == [
        Interface("00:1a:2b:3c:4d:60", "10.1.2.3", 24, "10.1.2.255", "Ethernet adapter Office")]


def test_collect_never_raises_without_tools(monkeypatch):
    monkeypatch.setattr(interfaces, "_run", lambda *argv: None)
    for system in ("Linux", "Darwin", "Windows"):
        assert interfaces.collect(system) == []
