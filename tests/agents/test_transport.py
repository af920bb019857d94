"""Small pure parts of agents/transport.py (dialling itself is tested against real gateways in test_tls.py)."""

from __future__ import annotations

import pytest

from agents.transport import websocket_url


@pytest.mark.parametrize("gateway, url", [
    ("https://gw.example", "wss://gw.example/ws/agent"),
    ("https://gw.example/", "wss://gw.example/ws/agent"),
    ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws/agent"),
    ("wss://gw.example:8443/", "wss://gw.example:8443/ws/agent"),
    ("ws://gw", "ws://gw/ws/agent"),
])
def test_websocket_url(gateway, url):
    assert websocket_url(gateway, "/ws/agent") == url
