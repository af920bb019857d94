"""Wake-on-LAN, sans-IO: the magic packet, network interfaces, who can wake whom.

A sleeping PC's network card listens for the *magic packet*: six 0xFF bytes,
then the card's MAC address sixteen times, anywhere in a frame; Ponte sends it
as a UDP datagram to the subnet's broadcast address, port 9 (discard), from
another agent on the same subnet, since routers do not forward broadcasts.

An agent reports its interfaces (``Interface``: MAC, IPv4 address, prefix,
broadcast) on every hello; the gateway keeps them with the machine, so when the
PC is off it still knows the MAC to wake and which online agents share one of
its subnets (``wakers``).

Errors: ``WakeError`` (also ``ValueError``) for a MAC, address or record that
cannot be used (drawn in ``errors.py``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .errors import WakeError

#: UDP port of the magic packet (discard); 7 (echo) is the other customary one.
WAKE_PORT = 9
#: Interfaces an agent reports at most (a PC with Docker or VPNs can have dozens).
MAX_INTERFACES = 16

_MAC = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$")


def normalise_mac(text: str) -> str:
    """``text`` as ``aa:bb:cc:dd:ee:ff``; accepts ``:``, ``-`` or no separators, any case.

    Raises ``WakeError`` for anything else, and for an all-zero or broadcast or
    multicast MAC, none of which names one network card.
    """
    if not isinstance(text, str) or not _MAC.match(text.strip().lower()):
        raise WakeError(f"not a MAC address: {text!r}"[:80])
    digits = re.sub(r"[:-]", "", text.strip().lower())
    mac = bytes.fromhex(digits)
    if mac == bytes(6) or mac == b"\xff" * 6 or mac[0] & 1:
        raise WakeError(f"not the MAC address of one network card: {text!r}"[:80])
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def magic_packet(mac: str) -> bytes:
    """The 102 bytes that wake the card ``mac``: 6 × 0xFF, then the MAC 16 times."""
    return b"\xff" * 6 + bytes.fromhex(normalise_mac(mac).replace(":", "")) * 16


@dataclass(frozen=True)
class Interface:
    """One IPv4 address of a network card, as an agent reports it."""

    mac: str          # aa:bb:cc:dd:ee:ff
    address: str      # dotted IPv4
    prefix: int       # 0..32
    broadcast: str    # the subnet's broadcast address (computed when the OS does not say)
    name: str = ""    # eth0, en0, "Ethernet" (for people only)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Interface(f"{self.address}/{self.prefix}").network

    def as_dict(self) -> dict:
        return {"mac": self.mac, "address": self.address, "prefix": self.prefix,
                "broadcast": self.broadcast, "name": self.name}


def interface(mac: str, address: str, prefix: int, broadcast: str = "", name: str = "") -> Interface:
    """A checked ``Interface``; ``broadcast`` defaults to the subnet's. Raises ``WakeError``."""
    if not isinstance(prefix, int) or isinstance(prefix, bool) or not 0 <= prefix <= 32:
        raise WakeError(f"not an IPv4 prefix length: {prefix!r}"[:80])
    try:
        iface = ipaddress.IPv4Interface(f"{address}/{prefix}")
        cast = ipaddress.IPv4Address(broadcast) if broadcast else iface.network.broadcast_address
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError, TypeError):
        raise WakeError(f"not an IPv4 address: {address!r} / {broadcast!r}"[:80]) from None
    if not isinstance(name, str):
        raise WakeError("interface name must be a string")
    return Interface(normalise_mac(mac), str(iface.ip), prefix, str(cast), name[:64])


def from_dict(obj) -> Interface:
    """An ``Interface`` from its ``as_dict`` form (a peer's or a stored one); ``WakeError`` if invalid."""
    if not isinstance(obj, dict):
        raise WakeError("an interface must be an object")
    return interface(obj.get("mac", ""), obj.get("address", ""), obj.get("prefix"), obj.get("broadcast", ""),
                     obj.get("name", ""))


def wakeable(interfaces) -> list[Interface]:
    """The interfaces a magic packet can reach: not loopback, not link-local, one per MAC and subnet."""
    out, seen = [], set()
    for iface in interfaces:
        ip = ipaddress.IPv4Address(iface.address)
        if ip.is_loopback or ip.is_link_local or iface.prefix >= 31:
            continue
        key = (iface.mac, iface.network)
        if key not in seen:
            seen.add(key)
            out.append(iface)
    return out[:MAX_INTERFACES]


def shared_subnet(sleeper, waker) -> Interface | None:
    """The sleeper's interface that some interface of ``waker`` shares a subnet with, or None.

    Both are lists of ``Interface``; a match means ``waker`` can reach the
    sleeper's card with a broadcast on that subnet.
    """
    networks = {w.network for w in wakeable(waker)}
    for iface in wakeable(sleeper):
        if iface.network in networks:
            return iface
    return None
