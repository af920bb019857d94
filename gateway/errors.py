"""The gateway's exceptions, drawn once (as httpx's ``_exceptions.py``).

Library errors are translated where they cross into the gateway
(``raise … from exc``): a caller catches one of these, never ``redis`` or
``socket`` errors from deep inside. The modules that raise them import them
from here (``gateway.live.LiveStoreError`` is this class)::

    GatewayError                 root of everything this package raises on purpose
    ├── ConfigError              bad settings (``config``)
    ├── LiveStoreError           Redis did not answer (``live``; wraps redis.RedisError)
    ├── NodeBusError             a node-bus message that is not a valid command (``nodebus``)
    ├── HandshakeError           a WebSocket handshake we do not complete: HTTP 400 (``handshake``)
    ├── AgentUnavailable         no agent can serve this machine's session now (``hub``)
    ├── PeerUnreachable          another gateway node could not be dialled (``peering``)
    └── SealError                a sealed secret that does not open under this key (``sealing``)
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the gateway's exceptions."""


class ConfigError(GatewayError):
    """A setting is missing, malformed or contradictory."""


class LiveStoreError(GatewayError):
    """Redis is unreachable or answered with an error."""


class NodeBusError(GatewayError):
    """A node-bus message that is malformed, oversized or of an unknown kind."""


class HandshakeError(GatewayError):
    """Why a request is not a WebSocket handshake we complete; ``headers`` go into the 400."""

    def __init__(self, message: str, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class AgentUnavailable(GatewayError):
    """No agent can serve the session: not connected to any node, or it failed the stream."""


class PeerUnreachable(GatewayError):
    """Another gateway node did not answer on its internal address, or refused the WebSocket."""


class SealError(GatewayError):
    """A sealed secret that does not open under this instance's key (another key, or altered)."""
