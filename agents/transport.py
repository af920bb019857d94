"""Connections from an office PC (or a viewer's laptop) to the gateway.

One place decides how we reach the gateway, for WebSockets and plain HTTPS
alike: TLS verified by default (system store or a CA bundle), optional
SHA-256 pin of the gateway certificate, ``HTTPS_PROXY`` via HTTP CONNECT,
and plain ``ws://``/``http://`` only when explicitly allowed for development.

Errors: ``TransportError`` and its subclasses ``InsecureRefused``,
``PinMismatch``, ``HTTPError`` (drawn in ``agents/errors.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from http.client import HTTPResponse
from urllib.parse import unquote, urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

from .errors import HTTPError, InsecureRefused, PinMismatch, TransportError
from .websocket import FramedWebSocket, FramingError

DEFAULT_TIMEOUT = 15.0
MAX_PROXY_HEADER = 16 * 1024
KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}



@dataclass(frozen=True)
class TLSOptions:
    ca_bundle: str = ""
    pin_sha256: str = ""
    insecure_dev: bool = False


def websocket_url(gateway: str, path: str) -> str:
    """``path`` on the gateway whose base URL is ``gateway`` (``https://`` or ``wss://``), as a WebSocket URL."""
    base = gateway.rstrip("/")
    return ("ws" + base[4:] if base.startswith("http") else base) + path


def pins(value: str) -> list[str]:
    """The fingerprints in a ``pin_sha256`` value: comma-separated (old and new
    certificate during a renewal), ``:`` separators and case ignored."""
    return [p.strip().lower().replace(":", "") for p in value.split(",") if p.strip()]


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
    wanted = pins(pin)
    # Compare against every pin (no early exit) in constant time.
    if not any([hmac.compare_digest(got, want) for want in wanted]):
        raise PinMismatch(f"gateway certificate SHA-256 is {got}, but the agent is pinned to "
                          f"{', '.join(wanted)}; not connecting")


def _proxy_for(scheme: str, host: str) -> tuple[str, int, str] | None:
    """``(host, port, Proxy-Authorization)`` of the proxy for ``host``, if any.

    ``urllib.request.getproxies`` reads ``HTTPS_PROXY``/``https_proxy`` (and on
    Windows and macOS the system proxy settings); ``NO_PROXY`` is honoured.
    """
    if proxy_bypass(host):
        return None
    proxies = getproxies()
    url = proxies.get("https" if scheme in ("https", "wss") else "http")
    if not url:
        return None
    parts = urlsplit(url if "://" in url else "http://" + url)
    if not parts.hostname:
        raise TransportError(f"proxy setting {url!r} has no host")
    auth = ""
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
    return parts.hostname, parts.port or 80, auth


def _connect_proxy(proxy: tuple[str, int, str], host: str, port: int, timeout: float) -> socket.socket:
    """A socket tunnelled to ``host:port`` through an HTTP proxy (RFC 9110 §9.3.6 CONNECT)."""
    phost, pport, auth = proxy
    sock = socket.create_connection((phost, pport), timeout=timeout)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if auth:
        request += f"Proxy-Authorization: {auth}\r\n"
    try:
        sock.sendall((request + "\r\n").encode("latin-1"))
        # Read the answer byte by byte up to the blank line: nothing of the
        # tunnelled stream may be swallowed by a buffer (bounded, 16 KiB).
        head = bytearray()
        while not head.endswith(b"\r\n\r\n"):
            byte = sock.recv(1)
            if not byte:
                raise TransportError(f"proxy {phost}:{pport} closed the connection during CONNECT")
            head += byte
            if len(head) > MAX_PROXY_HEADER:
                raise TransportError(f"proxy {phost}:{pport} sent an oversized answer to CONNECT")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise TransportError(f"proxy {phost}:{pport} answered junk to CONNECT: {status_line[:80]!r}")
        if not 200 <= int(parts[1]) < 300:
            hint = " (the proxy wants a login: put it in HTTPS_PROXY as http://user:password@host:port)" \
                if parts[1] == "407" else ""
            raise TransportError(f"proxy {phost}:{pport} refused CONNECT {target}: {status_line}{hint}")
    except BaseException:
        sock.close()
        raise
    return sock


def _keepalive(sock: socket.socket) -> None:
    """Find a dead gateway connection in minutes, not the OS default of two hours."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in KEEPALIVE.items():
        if hasattr(socket, name):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
            except OSError:  # older Windows builds lack some of them
                pass


def open_socket(url: str, tls: TLSOptions, timeout: float = DEFAULT_TIMEOUT) -> socket.socket:
    """A connected (and, for https/wss, verified TLS) socket to ``url``'s host."""
    parts = urlsplit(url)
    secure = parts.scheme in ("https", "wss")
    if parts.scheme not in ("https", "wss", "http", "ws"):
        raise TransportError(f"unsupported URL scheme {parts.scheme!r}")
    if not secure and not tls.insecure_dev:
        raise InsecureRefused(f"refusing plain {parts.scheme}:// (use https, or --insecure-dev for a test gateway)")
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError as exc:
        raise TransportError(f"bad gateway URL {url!r}: {exc}") from exc
    try:
        proxy = _proxy_for(parts.scheme, host)
        sock = _connect_proxy(proxy, host, port, timeout) if proxy else \
            socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _keepalive(sock)
            if secure:
                sock = _ssl_context(tls).wrap_socket(sock, server_hostname=host)
                if tls.pin_sha256:
                    _check_pin(sock, tls.pin_sha256)
        except BaseException:
            sock.close()
            raise
    except ssl.SSLCertVerificationError as exc:
        raise TransportError(f"the certificate of {host}:{port} is not trusted ({exc.verify_message}); "
                             "give the gateway's CA with --ca-bundle, or its fingerprint with --pin-sha256") from exc
    except ssl.SSLError as exc:
        raise TransportError(f"TLS with {host}:{port} failed: {exc}") from exc
    except OSError as exc:
        raise TransportError(f"cannot reach {host}:{port}: {exc.strerror or exc}") from exc
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
                   max_message: int | None = None, protocols: tuple[str, ...] = ()) -> FramedWebSocket:
    """Connect and complete the WebSocket handshake (RFC 6455 §4.1), offering ``protocols``."""
    sock = open_socket(url, tls, timeout)
    kwargs = {"max_message": max_message} if max_message else {}
    ws = HeaderWebSocket(headers, **kwargs)
    try:
        ws.connect_over(sock, url, origin=origin, protocols=protocols)
    except (OSError, FramingError) as exc:
        sock.close()
        raise TransportError(f"WebSocket to {url} failed: {exc}") from exc
    sock.settimeout(None)  # sessions may idle for hours; callers set their own deadlines
    return ws


class HTTPClient:
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
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"HTTP {method} {url} failed: {exc!r}") from exc
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
