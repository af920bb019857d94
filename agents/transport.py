"""Connections from an office PC (or a viewer's laptop) to the gateway.

One place decides how we reach the gateway, for WebSockets and plain HTTPS
alike: TLS verified by default (system store or a CA bundle), optional
SHA-256 pin of the gateway certificate, ``HTTPS_PROXY`` via HTTP CONNECT,
and plain ``ws://``/``http://`` only when explicitly allowed for development.

Exceptions::

    TransportError              cannot reach or trust the gateway
    ├── InsecureRefused         plain ws:// or http:// without insecure_dev
    ├── PinMismatch             certificate does not match the configured pin
    └── HTTPError               the gateway answered an HTTP error (status, body)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
from dataclasses import dataclass
from http.client import HTTPResponse
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

from .protocol.framing import FramedWebSocket, FramingError

DEFAULT_TIMEOUT = 15.0


class TransportError(Exception):
    """The gateway cannot be reached or trusted."""


class InsecureRefused(TransportError):
    pass


class PinMismatch(TransportError):
    pass


class HTTPError(TransportError):
    def __init__(self, status: int, body: dict | None, message: str):
        super().__init__(message)
        self.status = status
        self.body = body or {}


@dataclass(frozen=True)
class TLSOptions:
    ca_bundle: str = ""
    pin_sha256: str = ""
    insecure_dev: bool = False


def _ssl_context(tls: TLSOptions) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls.ca_bundle or None)
    if tls.pin_sha256:
        # The pin is the trust anchor (e.g. a self-signed gateway): we check it
        # ourselves right after the handshake, so chain validation may be off.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _check_pin(sock: ssl.SSLSocket, pin: str) -> None:
    der = sock.getpeercert(binary_form=True) or b""
    got = hashlib.sha256(der).hexdigest()
    want = pin.lower().replace(":", "")
    if not hmac.compare_digest(got, want):
        raise PinMismatch(f"gateway certificate SHA-256 is {got}, expected {want}")


def _proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    if proxy_bypass(host):
        return None
    proxies = getproxies()
    url = proxies.get("https" if scheme in ("https", "wss") else "http")
    if not url:
        return None
    parts = urlsplit(url if "://" in url else "http://" + url)
    return parts.hostname, parts.port or 8080


def _connect_proxy(proxy: tuple[str, int], host: str, port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection(proxy, timeout=timeout)
    request = f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    sock.sendall(request)
    response = HTTPResponse(sock, method="CONNECT")
    try:
        response.begin()
    except Exception as exc:
        sock.close()
        raise TransportError(f"proxy {proxy[0]}:{proxy[1]} answered junk: {exc}") from exc
    if response.status != 200:
        sock.close()
        raise TransportError(f"proxy {proxy[0]}:{proxy[1]} refused CONNECT: {response.status} {response.reason}")
    return sock


def open_socket(url: str, tls: TLSOptions, timeout: float = DEFAULT_TIMEOUT) -> socket.socket:
    """A connected (and, for https/wss, verified TLS) socket to ``url``'s host."""
    parts = urlsplit(url)
    secure = parts.scheme in ("https", "wss")
    if parts.scheme not in ("https", "wss", "http", "ws"):
        raise TransportError(f"unsupported URL scheme {parts.scheme!r}")
    if not secure and not tls.insecure_dev:
        raise InsecureRefused(f"refusing plain {parts.scheme}:// (use https, or --insecure-dev for a test gateway)")
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    try:
        proxy = _proxy_for(parts.scheme, host)
        sock = _connect_proxy(proxy, host, port, timeout) if proxy else \
            socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if secure:
            sock = _ssl_context(tls).wrap_socket(sock, server_hostname=host)
            if tls.pin_sha256:
                _check_pin(sock, tls.pin_sha256)
    except ssl.SSLError as exc:
        raise TransportError(f"TLS with {host}:{port} failed: {exc}") from exc
    except OSError as exc:
        raise TransportError(f"cannot reach {host}:{port}: {exc}") from exc
    return sock


class HeaderWebSocket(FramedWebSocket):
    """A client WebSocket that can send extra request headers (Cookie)."""

    def __init__(self, headers: dict[str, str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self._extra_headers = dict(headers or {})

    def end_headers(self):
        for key, value in self._extra_headers.items():
            self.send_header(key, value)
        self._extra_headers = {}
        super().end_headers()


def open_websocket(url: str, tls: TLSOptions, *, headers: dict[str, str] | None = None,
                   origin: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                   max_message: int | None = None) -> FramedWebSocket:
    """Connect and complete the WebSocket handshake (RFC 6455 §4.1)."""
    sock = open_socket(url, tls, timeout)
    kwargs = {"max_message": max_message} if max_message else {}
    ws = HeaderWebSocket(headers, **kwargs)
    try:
        ws.connect_over(sock, url, origin=origin)
    except (OSError, FramingError) as exc:
        sock.close()
        raise TransportError(f"WebSocket to {url} failed: {exc}") from exc
    sock.settimeout(None)  # sessions may idle for hours; callers set their own deadlines
    return ws


class Session:
    """A tiny HTTP client for the gateway: cookies, JSON, same TLS rules."""

    def __init__(self, base_url: str, tls: TLSOptions, timeout: float = DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.tls = tls
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, *, json_body=None, form=None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        url = self.base_url + path
        parts = urlsplit(url)
        body = b""
        hdrs = {"Host": parts.netloc, "Connection": "close", "Accept": "application/json"}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            hdrs["Cookie"] = self.cookie_header()
        hdrs.update(headers or {})
        hdrs["Content-Length"] = str(len(body))
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        sock = open_socket(url, self.tls, self.timeout)
        try:
            head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
            sock.sendall(head.encode("latin-1") + b"\r\n" + body)
            resp = HTTPResponse(sock, method=method)
            resp.begin()
            data = resp.read(4 * 1024 * 1024)
            for header in resp.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return resp.status, dict(resp.headers.items()), data
        except OSError as exc:
            raise TransportError(f"HTTP {method} {url} failed: {exc}") from exc
        finally:
            sock.close()

    def json(self, method: str, path: str, **kwargs) -> dict:
        status, _headers, data = self.request(method, path, **kwargs)
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {}
        if status >= 400:
            message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
            raise HTTPError(status, body if isinstance(body, dict) else {},
                            message or f"{method} {path} answered HTTP {status}")
        return body
