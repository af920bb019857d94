"""A guest with a share link reaches a real agent and Xvnc through the gateway (issue 14).

The guest is a plain HTTP client without an account: the link's page, "Open" (CSRF), a ticket
bound to the guest cookie, the viewer socket with its Origin — then RFB from the real PC. The
history and the audit show the guest with their address; revoking the link ends the session.
"""

from __future__ import annotations

import re

import pytest

from agents.forward import viewer_protocols
from agents.errors import HTTPError
from agents.transport import HTTPClient, TLSOptions, TransportError, open_websocket
from tests.conftest import needs
from tests.support import WebClient, rfb_open, wait_for

pytestmark = [needs("Xvnc"), pytest.mark.slow]
TLS = TLSOptions(insecure_dev=True)


def _guest(stack, secret: str) -> HTTPClient:
    """A browser without an account that opened the link and pressed "Open"."""
    guest = HTTPClient(stack.gateway.url, TLS)
    status, headers, page = guest.request("GET", f"/share/{secret}", headers={"Accept": "text/html"})
    assert status == 200 and headers["Referrer-Policy"] == "no-referrer"
    assert b"boss shares the PC office-pc with you" in page
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    status, headers, _ = guest.request("POST", f"/share/{secret}", form={"csrf_token": csrf})
    assert status == 303 and headers["Location"].endswith("/share/view") and "ponte_guest" in guest.cookies
    guest.csrf = csrf
    return guest


def _ticket(guest: HTTPClient) -> dict:
    return guest.json("POST", "/share/session", json_body={}, headers={"X-CSRFToken": guest.csrf})


def _socket(stack, guest: HTTPClient, ticket: str, origin: str | None = None, cookie: bool = True):
    return open_websocket(stack.gateway.url.replace("http", "ws", 1) + "/ws/view", TLS,
                          headers={"Cookie": guest.cookie_header()} if cookie else {},
                          protocols=viewer_protocols(ticket), origin=origin or stack.gateway.url)


def test_guest_views_the_real_pc_and_revoking_the_link_ends_it(stack):
    boss = WebClient(stack.gateway.url, "boss", "bosspass12")
    share = boss.json("POST", "/api/v1/machines/office-pc/shares",
                      json_body={"view_only": False, "minutes": 15, "max_uses": 1})["share"]
    secret = share["url"].rsplit("/share/", 1)[1]
    guest = _guest(stack, secret)

    # the ticket keeps its rules: Origin checked, bound to the guest cookie, one-time
    with pytest.raises(TransportError, match="403"):
        _socket(stack, guest, _ticket(guest)["ticket"], origin="https://evil.example")
    with pytest.raises(TransportError, match="401"):
        _socket(stack, guest, _ticket(guest)["ticket"], cookie=False)
    with pytest.raises(TransportError, match="403"):   # a person's viewer path does not take it either
        boss.view_socket(_ticket(guest)["ticket"].removeprefix("guest."))
    issued = _ticket(guest)
    ws = _socket(stack, guest, issued["ticket"])
    assert rfb_open(ws).server_init.width == 320
    with pytest.raises(TransportError, match="403"):
        _socket(stack, guest, issued["ticket"])

    live = wait_for(lambda: [s for s in boss.json("GET", "/api/v1/sessions")["sessions"]
                             if s["id"] == issued["session"] and s["state"] == "live"], timeout=10,
                    what="the guest's session live")[0]
    assert live["kind"] == "guest" and live["share_id"] == share["id"]
    assert live["user"] == f"guest of link {share['id']}" and live["client_ip"] == "127.0.0.1"

    ended = boss.json("DELETE", f"/api/v1/shares/{share['id']}")
    assert ended["ended_sessions"] == 1
    while ws.read_message() is not None:
        pass
    assert "revoked" in (ws.close_reason or "")
    with pytest.raises(HTTPError) as refused:
        _ticket(guest)
    assert refused.value.status == 403

    rows = wait_for(lambda: [r for r in boss.json("GET", "/api/v1/history")["history"]
                             if r["id"] == issued["session"] and r["ended_at"]], timeout=10,
                    what="the guest's session in the history")
    assert rows[0]["user"] == f"guest of link {share['id']}" and rows[0]["client_ip"] == "127.0.0.1"
    assert rows[0]["end_reason"] == "The share link was revoked" and rows[0]["bytes_to_viewer"] > 0
    audit = boss.json("GET", "/api/v1/audit")["audit"]
    actions = {(a["action"], a["ip"]) for a in audit if a["actor"] == f"guest of link {share['id']}"}
    assert {("share_use", "127.0.0.1"), ("session_start", "127.0.0.1")} <= actions
    assert secret not in stack.gateway.log_tail(400_000)
