"""``python -m agents forward``: a local TCP port that opens a gateway session per client.

Any VNC viewer (or vncdotool) pointed at the port reaches the office PC with
security type None: the gateway authenticates the person, the agent holds the
VNC password. Each TCP client gets its own session and ticket.
"""

from __future__ import annotations

import html.parser
import logging
import socket
import threading
from urllib.parse import quote, urlsplit

from .errors import LoginFailed
from .pipe import close_socket, splice
from .transport import HTTPClient, HTTPError, TLSOptions, TransportError, open_websocket, websocket_url

log = logging.getLogger(__name__)


def viewer_protocols(ticket: str) -> tuple[str, ...]:
    """What a viewer offers on ``/ws/view``: websockify's ``binary``, and its one-time ticket."""
    return ("binary", f"ponte.ticket.{ticket}")


class _CSRFFinder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.token = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") == "csrf_token":
            self.token = self.token or a.get("value")
        if tag == "meta" and a.get("name") == "csrf-token":
            self.token = self.token or a.get("content")


def _csrf_token(page: bytes) -> str:
    finder = _CSRFFinder()
    finder.feed(page.decode("utf-8", "replace"))
    if not finder.token:
        raise TransportError("the gateway page carries no CSRF token")
    return finder.token


class Forwarder:
    #: The login page: a firm of a gateway serving many has its own, ``/o/<slug>/login``.
    login_path = "/login"

    def __init__(self, gateway: str, machine: str, user: str, password: str, tls: TLSOptions):
        self.gateway = gateway.rstrip("/")
        self.machine = machine
        self.user = user
        self.password = password
        self.tls = tls
        self.http = HTTPClient(self.gateway, tls)
        self.csrf = ""
        self._lock = threading.Lock()

    def login(self) -> None:
        status, _h, page = self.http.request("GET", self.login_path)
        token = _csrf_token(page)
        status, headers, _page = self.http.request(
            "POST", self.login_path, form={"csrf_token": token, "name": self.user, "password": self.password})
        if status != 302:
            raise LoginFailed(f"login as {self.user!r} refused (HTTP {status})")
        status, _h, page = self.http.request("GET", "/")
        self.csrf = _csrf_token(page)

    def open_session(self) -> dict:
        path = f"/api/v1/machines/{quote(self.machine, safe='')}/sessions"
        with self._lock:
            try:
                return self.http.json("POST", path, json_body={}, headers={"X-CSRFToken": self.csrf})
            except HTTPError as exc:
                if exc.status != 401:
                    raise
                self.login()  # the login session expired: log in again once
                return self.http.json("POST", path, json_body={}, headers={"X-CSRFToken": self.csrf})

    def ws_url(self) -> str:
        return websocket_url(self.gateway, "/ws/view")

    def handle(self, client: socket.socket, peer) -> None:
        try:
            issued = self.open_session()
            parts = urlsplit(self.gateway)
            origin = f"{'https' if parts.scheme in ('https', 'wss') else 'http'}://{parts.netloc}"
            # The ticket travels as a subprotocol, never in a URL a proxy would log.
            ws = open_websocket(self.ws_url(), self.tls, headers={"Cookie": self.http.cookie_header()},
                                origin=origin, protocols=viewer_protocols(issued["ticket"]))
        except (TransportError, OSError, KeyError) as exc:
            log.warning("client %s: cannot open a session: %s", peer, exc)
            close_socket(client)
            return
        log.info("client %s: session %s", peer, issued["session"])
        why = splice(client, ws, name=f"forward-{issued['session'][:8]}")
        log.info("client %s: session %s ended (%s)", peer, issued["session"], why)

    def serve(self, host: str, port: int, *, ready=None, stop: threading.Event | None = None) -> None:
        listener = socket.create_server((host, port), reuse_port=False)
        listener.settimeout(0.5)
        if ready is not None:
            ready(listener.getsockname())
        stop = stop or threading.Event()
        try:
            while not stop.is_set():
                try:
                    client, peer = listener.accept()
                except socket.timeout:
                    continue
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=self.handle, args=(client, peer), daemon=True).start()
        finally:
            listener.close()
