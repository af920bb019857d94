"""Security headers on every answer: pages, JSON, errors, static files, /metrics, /healthz.

Every rule of ``app.url_map`` is asked (anonymous and as an admin), plus a 404,
a 405 and a 500, so a new route cannot ship without them.
"""

from __future__ import annotations

import pytest

from tests.gateway.test_authz import ARGUMENTS, FILES

FIXED = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def policy(resp) -> dict[str, list[str]]:
    header = resp.headers.get("Content-Security-Policy", "")
    out = {}
    for part in filter(None, (p.strip() for p in header.split(";"))):
        name, *values = part.split()
        out[name] = values
    return out


#: Pages whose URL may hold a secret (a share link, issue 14) send no Referer at all.
NO_REFERRER = ("/share/",)


def check(resp, where: str, problems: list, ws: list[str]) -> None:
    path = where.split()[1] if " " in where else where
    for name, value in FIXED.items():
        if name == "Referrer-Policy" and path.startswith(NO_REFERRER):
            value = "no-referrer"
        if resp.headers.get(name) != value:
            problems.append(f"{where}: {name}={resp.headers.get(name)!r}")
    csp = policy(resp)
    want = {"default-src": ["'self'"], "script-src": ["'self'"], "object-src": ["'none'"],
            "base-uri": ["'none'"], "form-action": ["'self'"], "frame-ancestors": ["'none'"]}
    for directive, values in want.items():
        if csp.get(directive) != values:
            problems.append(f"{where}: CSP {directive} {csp.get(directive)}")
    if csp.get("connect-src", [])[:1] != ["'self'"] or not set(ws) <= set(csp.get("connect-src", [])):
        problems.append(f"{where}: CSP connect-src {csp.get('connect-src')} lacks {ws}")
    if any("unsafe" in v for values in csp.values() for v in values):
        problems.append(f"{where}: CSP allows something unsafe: {csp}")


def every_request(app):
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        values = {a: FILES[rule.endpoint] if ARGUMENTS[a] == "file" else "1" for a in rule.arguments}
        for method in sorted(rule.methods - {"OPTIONS"}):
            yield method, adapter.build(rule.endpoint, values, method=method), rule.endpoint


@pytest.mark.parametrize("as_admin", [False, True])
def test_every_route_sends_the_headers(app, client, users, login, as_admin):
    if as_admin:
        login("boss")
    problems = []
    seen = set()
    for method, url, endpoint in every_request(app):
        resp = client.open(url, method=method)
        seen.add(resp.status_code)
        check(resp, f"{method} {url} → {resp.status_code}", problems, ["ws://localhost:*", "wss://localhost:*"])
        assert "Strict-Transport-Security" not in resp.headers  # public_url is not https here
    for url in ("/no-such-page", "/api/v1/no-such-thing"):
        resp = client.get(url)
        assert resp.status_code == 404
        check(resp, url, problems, [])
    assert not problems, "\n".join(problems)
    assert len(seen) >= 4, seen  # answers of several kinds were checked, not only one


def test_unexpected_error_page_has_them_too(app, client):
    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("boom")

    resp = client.get("/boom-for-test")
    assert resp.status_code == 500
    problems = []
    check(resp, "500", problems, [])
    assert not problems, problems


def make_app(tmp_path, redis_server, prefix, **settings):
    from gateway import create_app

    return create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                       **settings})


def test_public_https_url_names_its_wss_origin_and_sends_hsts(tmp_path, redis_server, prefix):
    app = make_app(tmp_path, redis_server, prefix, public_url="https://ponte.example.com", trusted_proxies=1)
    client = app.test_client()
    behind_tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"}
    for url in ("/login", "/healthz", "/metrics", "/assets/style.css", "/api/v1/me", "/nowhere"):
        resp = client.get(url, headers=behind_tls, base_url="http://ponte.example.com")
        problems = []
        check(resp, url, problems, ["wss://ponte.example.com"])
        assert not problems, problems
        assert "ws://ponte.example.com" not in policy(resp)["connect-src"]
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=31556926")
    # Never forced to https here: the reverse proxy does that (and a plain-http probe still answers).
    resp = client.get("/healthz", base_url="http://ponte.example.com")
    assert resp.status_code == 200 and "Strict-Transport-Security" not in resp.headers  # RFC 6797 §7.2


def test_http_public_url_names_its_ws_origin_and_no_hsts(tmp_path, redis_server, prefix):
    app = make_app(tmp_path, redis_server, prefix, public_url="http://desk.lan:8080")
    resp = app.test_client().get("/login", base_url="http://desk.lan:8080")
    assert policy(resp)["connect-src"] == ["'self'", "ws://desk.lan:8080"]
    assert "Strict-Transport-Security" not in resp.headers


def test_without_public_url_the_allowed_hosts_are_the_ws_origins(tmp_path, redis_server, prefix):
    app = make_app(tmp_path, redis_server, prefix, allowed_hosts="ponte.lan,.office.example")
    connect = policy(app.test_client().get("/login"))["connect-src"]
    assert connect == ["'self'", "ws://ponte.lan:*", "wss://ponte.lan:*",
                       "ws://*.office.example:*", "wss://*.office.example:*"]


def test_images_may_be_data_urls_for_novnc_cursors_and_jpeg_rects(client):
    # noVNC draws Tight JPEG rectangles and the remote cursor from data: URLs (core/display.js,
    # core/util/cursor.js); styles are set from script (CSSOM), which CSP allows without 'unsafe-inline'.
    csp = policy(client.get("/login"))
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["style-src"] == ["'self'"]
