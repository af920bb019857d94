"""This PC's network interfaces, for Wake-on-LAN (``agents.protocol.wol``).

Stdlib only, one OS tool each, and parsing kept apart from running it so the
parsers are tested with captured outputs:

- Linux: ``ip -j addr`` (iproute2's JSON);
- macOS (and Linux without iproute2): ``ifconfig``;
- Windows: ``ipconfig /all``, read by the shape of its values rather than its
  labels, which Windows translates: in each adapter block the MAC is the value
  written ``AA-BB-CC-DD-EE-FF``, and an IPv4 address is the line followed
  directly by a netmask line.

Collecting never raises: a PC whose interfaces cannot be read reports none
and simply cannot be woken (``collect`` logs why).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import platform
import re
import subprocess

from .protocol import wol
from .protocol.wol import Interface, WakeError

log = logging.getLogger(__name__)

#: Seconds an OS tool may take before the hello goes without interfaces.
TOOL_TIMEOUT = 5.0


def _prefix_of(mask: str) -> int:
    """A netmask, dotted (``255.255.255.0``) or hex (``0xffffff00``), as a prefix length."""
    mask = mask.strip()
    if mask.lower().startswith("0x"):
        mask = str(ipaddress.IPv4Address(int(mask, 16)))
    return ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen


def _keep(out: list, mac: str, address: str, prefix: int, broadcast: str, name: str) -> None:
    try:
        out.append(wol.interface(mac, address, prefix, broadcast, name))
    except WakeError:
        pass  # loopback's zero MAC, a tunnel without one: nothing to wake there


def parse_ip_json(text: str) -> list[Interface]:
    """Interfaces from ``ip -j addr`` (Linux, iproute2)."""
    try:
        links = json.loads(text)
    except ValueError:
        return []
    out: list[Interface] = []
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict) or link.get("link_type") != "ether":
            continue
        for addr in link.get("addr_info") or []:
            if isinstance(addr, dict) and addr.get("family") == "inet":
                _keep(out, link.get("address", ""), addr.get("local", ""), addr.get("prefixlen"),
                      addr.get("broadcast", ""), str(link.get("ifname", "")))
    return wol.wakeable(out)


_IFCONFIG_HEAD = re.compile(r"^(\S+?):?\s")
_IFCONFIG_INET = re.compile(r"\binet (?:addr:)?(\d+\.\d+\.\d+\.\d+)\s.*?(?:netmask|Mask:)\s*(\S+)"
                            r"(?:.*?(?:broadcast|Bcast:)\s*(\d+\.\d+\.\d+\.\d+))?")
_IFCONFIG_MAC = re.compile(r"\b(?:ether|HWaddr|lladdr)\s+([0-9a-fA-F:]{17})\b")


def parse_ifconfig(text: str) -> list[Interface]:
    """Interfaces from ``ifconfig`` (macOS and BSD, Linux net-tools old and new)."""
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            head = _IFCONFIG_HEAD.match(line)
            blocks.append((head.group(1) if head else "", [line]))
        elif blocks:
            blocks[-1][1].append(line)
    out: list[Interface] = []
    for name, lines in blocks:
        body = "\n".join(lines)
        mac = _IFCONFIG_MAC.search(body)
        if mac is None:
            continue
        for line in lines:
            inet = _IFCONFIG_INET.search(line)
            if inet is None:
                continue
            try:
                prefix = _prefix_of(inet.group(2))
            except ValueError:
                continue
            _keep(out, mac.group(1), inet.group(1), prefix, inet.group(3) or "", name)
    return wol.wakeable(out)


_IPCONFIG_VALUE = re.compile(r"^\s+[^:]*?(?:\.\s)*:\s*(.*?)\s*$")
_WINDOWS_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}$")
_IPV4 = re.compile(r"^(\d+\.\d+\.\d+\.\d+)(?:\(.*\))?$")


def parse_ipconfig(text: str) -> list[Interface]:
    """Interfaces from Windows' ``ipconfig /all``, in any display language."""
    out: list[Interface] = []
    name, mac, values = "", "", []
    blocks: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            if mac:
                blocks.append((name, mac, values))
            name, mac, values = line.strip().rstrip(":"), "", []
            continue
        found = _IPCONFIG_VALUE.match(line)
        if found is None:
            continue
        value = found.group(1)
        if _WINDOWS_MAC.match(value) and not mac:
            mac = value
        values.append(value)
    if mac:
        blocks.append((name, mac, values))
    for name, mac, values in blocks:
        for here, after in zip(values, values[1:]):
            address = _IPV4.match(here)
            if address is None or not _IPV4.match(after):
                continue
            try:
                prefix = _prefix_of(after)
            except ValueError:
                continue
            if after.startswith("255.") or after == "0.0.0.0":
                _keep(out, mac, address.group(1), prefix, "", name)
    return wol.wakeable(out)


def _run(*argv: str) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s: %s", argv[0], exc)
        return None
    return done.stdout if done.returncode == 0 else None


def collect(system: str | None = None) -> list[Interface]:
    """This PC's wakeable interfaces, best effort (``[]`` if none can be read)."""
    system = system or platform.system()
    if system == "Windows":
        text = _run("ipconfig", "/all")
        found = parse_ipconfig(text) if text else []
    elif system == "Linux" and (text := _run("ip", "-j", "addr")):
        found = parse_ip_json(text)
    else:
        text = _run("ifconfig") or _run("/sbin/ifconfig")
        found = parse_ifconfig(text) if text else []
    if not found:
        log.info("no network interface found that Wake-on-LAN could use")
    return found
