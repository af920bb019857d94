"""Send a Wake-on-LAN magic packet (the bytes come from ``agents.protocol.wol``).

One UDP datagram to the subnet's broadcast address, port 9, with
``SO_BROADCAST`` set; nothing comes back, so success only means it left.
"""

from __future__ import annotations

import logging
import socket

from .protocol import wol

log = logging.getLogger(__name__)

#: Sent this many times: a datagram can be lost, and a card that wakes ignores the rest.
REPEAT = 3


def send_magic_packet(mac: str, broadcast: str, port: int = wol.WAKE_PORT) -> bool:
    """Send the magic packet for ``mac`` to ``broadcast``; False (and logged) if the OS refused."""
    packet = wol.magic_packet(mac)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            for _ in range(REPEAT):
                sock.sendto(packet, (broadcast, port))
    except OSError as exc:
        log.warning("could not send the magic packet for %s to %s: %s", mac, broadcast, exc)
        return False
    log.info("sent the magic packet for %s to %s port %d", mac, broadcast, port)
    return True
