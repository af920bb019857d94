"""Security headers on every response (flask-talisman), and the host names URLs may carry.

Talisman's after_request hook runs for views, error pages (Flask's
``finalize_request`` runs after-request hooks for handled errors and 500s
too), static files, ``/metrics`` and ``/healthz``. Its defaults are changed
where they fight Ponte's setup:

- ``force_https`` off: TLS ends at the reverse proxy, which redirects port 80
  itself; the gateway answers plain-HTTP probes (``/healthz``) and loopback
  demos. (Talisman would also decide "is this https?" from a raw
  ``X-Forwarded-Proto``, ignoring ``trusted_proxies``.)
- ``session_cookie_secure`` follows ``cookies_secure`` (Talisman would force
  Secure cookies, breaking http://127.0.0.1 demos).
- HSTS only when ``public_url`` is https, and then (Talisman's rule) on
  requests that came over TLS or say so in ``X-Forwarded-Proto``; over
  plain HTTP browsers ignore it anyway (RFC 6797 §8.1).
- ``frame_options`` DENY and ``frame-ancestors 'none'`` (Talisman: SAMEORIGIN):
  nothing may frame Ponte, the viewer least of all (clickjacking).
- ``Referrer-Policy: same-origin``; ``no-referrer`` under ``SECRET_PATHS`` (a share link's page has its secret in the URL).

The Content Security Policy: no inline script anywhere (pages load their
modules from ``/assets`` and ``/novnc``); ``connect-src`` names the
WebSocket origin, since ``'self'`` does not cover ``ws:``/``wss:`` in every
browser; ``img-src data:`` because noVNC draws Tight JPEG rectangles and the
remote cursor from ``data:`` URLs (core/display.js, core/util/cursor.js);
``style-src 'self'`` suffices because noVNC styles elements through the
CSSOM (``element.style``), which CSP does not restrict, and our templates
carry no ``style`` attributes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, abort, g, request
from flask_talisman import DENY, Talisman

from .config import GatewaySettings

HSTS_MAX_AGE = 31556926  # one year, Talisman's default


def content_security_policy(settings: GatewaySettings) -> dict[str, str]:
    return {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": " ".join(["'self'", *websocket_sources(settings)]),
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def websocket_sources(settings: GatewaySettings) -> list[str]:
    """CSP sources for the viewer's WebSocket: the public origin, else every allowed host."""
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return [f"{scheme}://{parts.netloc}"]
    sources = []
    for host in settings.trusted_hosts:
        if ":" in host:
            continue   # CSP's host-source grammar has no IPv6 literals (browsers drop them noisily)
        name = f"*{host}" if host.startswith(".") else host
        # Without public_url the page may be served over TLS by a proxy or not: allow both.
        sources += [f"ws://{name}:*", f"wss://{name}:*"]
    return sources


#: ``g`` key a view sets to send a stricter ``Referrer-Policy`` than the app's (``no_referrer``).
_REFERRER = "ponte_referrer_policy"


def no_referrer() -> None:
    """This response's page has a secret in its URL (a share link): no Referer may carry it away."""
    g.setdefault(_REFERRER, "no-referrer")


#: Paths whose URL may hold a secret (a share link's page): every answer there, errors included.
SECRET_PATHS = ("/share/",)


class _Talisman(Talisman):
    def _set_referrer_policy_headers(self, headers):
        secret = request.path.startswith(SECRET_PATHS)
        headers["Referrer-Policy"] = "no-referrer" if secret else (g.get(_REFERRER) or self.referrer_policy)


def init_app(app: Flask, settings: GatewaySettings) -> Talisman:
    """One Talisman per app: it keeps its policy on the instance (tests build many apps)."""
    return _Talisman(
        app,
        force_https=False,
        session_cookie_secure=settings.cookies_secure,
        session_cookie_samesite="Lax",
        frame_options=DENY,
        strict_transport_security=settings.public_url.startswith("https://"),
        strict_transport_security_max_age=HSTS_MAX_AGE,
        content_security_policy=content_security_policy(settings),
        referrer_policy="same-origin",
        x_content_type_options=True,
    )



def external_url(settings: GatewaySettings) -> str:
    """The gateway's base URL for links and commands handed out, without trailing slash.

    ``public_url`` when set; otherwise this request's own URL, but only if its
    Host is one of ``trusted_hosts`` (else 400: a forged ``Host:
    evil.example`` must never reach an enrolment command or a ws_url).
    """
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if not host_allowed(request.host, settings.trusted_hosts):
        abort(400, "This address (Host header) is not one of the gateway's allowed hosts; "
                   "ask your admin to set public_url or allowed_hosts.")
    return request.host_url.rstrip("/")


def host_allowed(host: str, allowed) -> bool:
    """``host[:port]`` names one of ``allowed`` (ports ignored; ``.example`` allows subdomains).

    Not Werkzeug's ``host_is_trusted``: it cannot match IPv6 entries such as ``::1``.
    """
    try:
        name = urlsplit(f"//{host}").hostname
    except ValueError:
        return False
    if not name:
        return False
    for entry in allowed:
        entry = entry.strip().strip("[]").lower()
        if entry.startswith("."):
            if name.endswith(entry) or name == entry[1:]:
                return True
        elif name == entry:
            return True
    return False


def websocket_url(settings: GatewaySettings, path: str) -> str:
    base = external_url(settings)
    return ("wss" + base[len("https"):] if base.startswith("https") else "ws" + base[len("http"):]) + path
