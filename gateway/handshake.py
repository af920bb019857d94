"""The server's side of the WebSocket opening handshake, checked before the socket is taken.

websockify's ``accept()`` raises a bare ``Exception`` on a bad handshake,
after the view has taken the socket from the HTTP server, so the client saw
its connection dropped with no answer. ``check`` reads the request headers
first (RFC 6455 §4.2.1): a handshake it passes is one ``accept()`` completes,
and anything else gets an HTTP 400 with a plain reason.

Subprotocols (§1.9, §4.2.2): ``binary`` is selected when offered
(websockify's own clients, older noVNC); ``ponte.ticket.<ticket>`` carries
the viewer's one-time ticket out of the URL, so proxy access logs never see
it (the viewer offers ``["binary", "ponte.ticket.<ticket>"]``).

Origins (RFC 6454 §6.2) are compared in their serialised form: scheme and
host lower-cased, the default port dropped, nothing after the host. An
``Origin`` that is not exactly such a serialisation (``null``, a path, a
trailing slash, user info) names no origin we allow.

Raises ``HandshakeError`` (``gateway.errors``): not a WebSocket handshake we
complete (answered with HTTP 400).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from agents.protocol.text import clean

from .errors import HandshakeError

VERSION = "13"
BINARY = "binary"
TICKET_PROTOCOL = "ponte.ticket."
DEFAULT_PORTS = {"http": 80, "https": 443}

_ORIGIN = re.compile(r"(https?)://([^/?#@\s]+)", re.IGNORECASE)
_HOST_PORT = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?")


@dataclass(frozen=True)
class Handshake:
    """A handshake ``accept()`` will complete."""

    #: The subprotocol to answer with ("" when the client offered none).
    protocol: str = ""
    #: The one-time ticket a ``ponte.ticket.<ticket>`` offer carried ("" if none).
    ticket: str = ""


def check(headers, *, tickets: bool = False) -> Handshake:
    """Validate the opening handshake in ``headers`` (RFC 6455 §4.2.1) or raise ``HandshakeError``.

    ``tickets``: this route takes a viewer ticket as a subprotocol.
    """
    if headers.get("Upgrade", "").strip().lower() != "websocket":
        raise HandshakeError("This address only speaks WebSocket.")
    if "upgrade" not in _tokens(headers, "Connection"):
        raise HandshakeError("A WebSocket handshake needs 'Connection: Upgrade'.")
    if headers.get("Sec-WebSocket-Version", "").strip() != VERSION:
        raise HandshakeError(f"Only WebSocket version {VERSION} (RFC 6455) is spoken here.",
                             {"Sec-WebSocket-Version": VERSION})
    try:
        key = base64.b64decode(headers.get("Sec-WebSocket-Key", "").strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 16:
        raise HandshakeError("Sec-WebSocket-Key must be 16 random bytes in base64.")
    offered = _tokens(headers, "Sec-WebSocket-Protocol", lower=False)
    ticket_offer = next((p for p in offered if p.startswith(TICKET_PROTOCOL)), "") if tickets else ""
    ticket = ticket_offer[len(TICKET_PROTOCOL):]  # checked where it is consumed, like ?ticket=
    if not offered:
        return Handshake()
    if BINARY in offered:
        return Handshake(BINARY, ticket)
    if ticket:
        return Handshake(ticket_offer, ticket)  # a client offering only its ticket gets it echoed
    raise HandshakeError(f"None of the offered subprotocols ({clean(', '.join(offered), 100)}) is spoken "
                         f"here: offer '{BINARY}', or none.")


def _tokens(headers, name: str, *, lower: bool = True) -> list[str]:
    """The comma-separated values of every ``name`` header (they may repeat, RFC 7230 §3.2.2)."""
    values = headers.getlist(name) if hasattr(headers, "getlist") else [headers.get(name, "")]
    out = [t.strip() for v in values for t in v.split(",") if t.strip()]
    return [t.lower() for t in out] if lower else out


def origin(value: str) -> str | None:
    """The origin an ``Origin`` header names, normalised, or ``None`` if it names none.

    Browsers send ``scheme://host[:port]`` and nothing else; ``null`` (sandboxed
    frames, ``file:``, redirects across origins) matches no page of ours.
    """
    match = _ORIGIN.fullmatch(value.strip()) if value else None
    if match is None:
        return None
    host_port = _HOST_PORT.fullmatch(match.group(2))
    if host_port is None:
        return None
    scheme, host = match.group(1).lower(), host_port.group(1).lower()
    port = int(host_port.group(2)) if host_port.group(2) else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        return None
    return f"{scheme}://{host}" + ("" if port == DEFAULT_PORTS[scheme] else f":{port}")


def origin_of_url(url: str) -> str | None:
    """The origin of a configured URL (``public_url``, ``allowed_origins``); a path is ignored."""
    parts = urlsplit(url.strip())
    return origin(f"{parts.scheme}://{parts.netloc}") if parts.scheme and parts.netloc else None
