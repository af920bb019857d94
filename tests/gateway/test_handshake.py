"""The WebSocket handshake check and origin normalisation (gateway/handshake.py), as tables.

Raw-socket tests against a real gateway: tests/e2e/test_socket_edge.py.
"""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from gateway import handshake
from gateway.handshake import Handshake, HandshakeError

GOOD = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def headers(**changes) -> Headers:
    out = Headers({k: v for k, v in GOOD.items()})
    for name, value in changes.items():
        name = name.replace("_", "-")
        out.remove(name)
        if value is not None:
            for v in value if isinstance(value, list) else [value]:
                out.add(name, v)
    return out


@pytest.mark.parametrize("changes, protocol, ticket", [
    ({}, "", ""),
    ({"Connection": "keep-alive, Upgrade"}, "", ""),                     # Firefox
    ({"Sec-WebSocket-Protocol": "binary"}, "binary", ""),                 # websockify's clients, old noVNC
    ({"Sec-WebSocket-Protocol": "binary, ponte.ticket.T0k-_"}, "binary", "T0k-_"),
    ({"Sec-WebSocket-Protocol": ["ponte.ticket.abc", "binary"]}, "binary", "abc"),   # two header lines
    ({"Sec-WebSocket-Protocol": "ponte.ticket.abc"}, "ponte.ticket.abc", "abc"),
])
def test_good_handshakes(changes, protocol, ticket):
    assert handshake.check(headers(**{k.replace("-", "_"): v for k, v in changes.items()}),
                           tickets=True) == Handshake(protocol, ticket)


def test_tickets_only_where_asked_for():
    with pytest.raises(HandshakeError, match="subprotocols"):
        handshake.check(headers(Sec_WebSocket_Protocol="ponte.ticket.abc"))
    assert handshake.check(headers(Sec_WebSocket_Protocol="binary, ponte.ticket.abc")) == Handshake("binary", "")


@pytest.mark.parametrize("changes, message", [
    ({"Upgrade": None}, "only speaks WebSocket"),
    ({"Upgrade": "h2c"}, "only speaks WebSocket"),
    ({"Connection": "keep-alive"}, "Connection: Upgrade"),
    ({"Sec_WebSocket_Version": None}, "version 13"),
    ({"Sec_WebSocket_Version": "8"}, "version 13"),
    ({"Sec_WebSocket_Key": None}, "16 random bytes"),
    ({"Sec_WebSocket_Key": "short"}, "16 random bytes"),
    ({"Sec_WebSocket_Key": "dGhlIHNhbXBsZSBub25jZQ==dGhl"}, "16 random bytes"),
    ({"Sec_WebSocket_Key": "!!!!!!!!!!!!!!!!!!!!!!=="}, "16 random bytes"),
    ({"Sec_WebSocket_Protocol": "base64"}, "offer 'binary'"),
    ({"Sec_WebSocket_Protocol": "chat\x1b[2J"}, "offer 'binary'"),
])
def test_bad_handshakes(changes, message):
    with pytest.raises(HandshakeError, match=message) as err:
        handshake.check(headers(**changes), tickets=True)
    assert "\x1b" not in err.value.message
    if "version" in message:
        assert err.value.headers == {"Sec-WebSocket-Version": "13"}   # RFC 6455 §4.4


@pytest.mark.parametrize("value, origin", [
    ("https://ponte.example.com", "https://ponte.example.com"),
    ("HTTPS://Ponte.Example.COM", "https://ponte.example.com"),
    ("https://ponte.example.com:443", "https://ponte.example.com"),
    ("http://ponte.example.com:80", "http://ponte.example.com"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    # not the serialisation of an origin: names none
    ("https://ponte.example.com/", None),
    ("https://ponte.example.com/evil", None),
    ("https://ponte.example.com?x", None),
    ("https://ponte.example.com#", None),
    ("https://user@ponte.example.com", None),
    ("https://ponte.example.com:99999", None),
    ("https://ponte.example.com:", None),
    ("null", None), ("", None), ("ponte.example.com", None), ("ftp://ponte.example.com", None),
    ("https://ponte.example.com\r\n", "https://ponte.example.com"),   # header whitespace
])
def test_origin(value, origin):
    assert handshake.origin(value) == origin


@pytest.mark.parametrize("url, origin", [
    ("https://ponte.example.com/", "https://ponte.example.com"),
    ("https://Ponte.example.com:443/portal", "https://ponte.example.com"),
    ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
    ("ponte.example.com", None),
])
def test_origin_of_configured_url(url, origin):
    assert handshake.origin_of_url(url) == origin
