"""Fuzz targets for what the web layer reads from outside: API JSON bodies and the people CSV.

Both run the real code behind a real Flask app (SQLite in a temporary folder; no Redis, so a
route that needs the live store answers 503 ``live_store_unavailable``, which is a clean answer
too). The property: whatever the bytes, the answer is a deliberate one — never a 500 — and the
importer either plans or refuses the file with ``ImportRefused``.
"""

from __future__ import annotations

import json
import tempfile

_app = None
_headers: dict = {}

# Routes taking a JSON body that need only SQL (with the methods the API gives them).
ROUTES = [("POST", "/api/v1/groups"), ("POST", "/api/v1/machines"), ("PUT", "/api/v1/factors/policy"),
          ("POST", "/api/v1/tokens"), ("PATCH", "/api/v1/machines/1"), ("PATCH", "/api/v1/groups/1"),
          ("PUT", "/api/v1/machines/1/grants/1"), ("POST", "/api/v1/machines/1/sessions"),
          ("POST", "/api/v1/enroll")]


def load() -> None:
    """Import the web modules (under atheris' instrumentation when fuzzing); the app comes later."""
    import gateway.api  # noqa: F401
    import gateway.signin.importer  # noqa: F401


def _web():
    """The app, made on first use (the other targets' processes never pay for it)."""
    global _app
    if _app is None:
        from gateway import create_app, ops

        app = create_app({"instance_path": tempfile.mkdtemp(prefix="ponte-fuzz-app-"),
                          "redis_url": "redis://127.0.0.1:1/0"})
        with app.app_context():
            boss = ops.add_user("boss", "fuzzing-boss-password-1", admin=True)
            _token, secret = ops.create_token(boss, "fuzz")
            ops.add_group("staff")
            ops.add_machine("desk-1")
        _headers.update({"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
        _app = app
    return _app


def api_json_target(data: bytes) -> None:
    if not data:
        return
    method, path = ROUTES[data[0] % len(ROUTES)]
    resp = _web().test_client().open(path, method=method, data=data[1:], headers=_headers)
    body = resp.get_data(as_text=True)
    if resp.status_code == 503:
        assert "live_store_unavailable" in body, body
        return
    assert resp.status_code < 500, (path, resp.status_code, body)
    assert resp.is_json and "error" in resp.get_json() if resp.status_code >= 400 else True, body


def api_json_seeds() -> list[bytes]:
    bodies = [{"name": "sales"}, {"name": "pc-2"}, {"require": "admins", "passkey_login": False},
              {"name": "t", "days": 3}, {"name": "renamed"}, {"name": "g2"}, {}, {"code": "AAAAA-BBBBB"},
              {"name": ["x"], "days": -1}, {"require": "groups", "group_ids": [1, "x"]}]
    return [bytes([i]) + json.dumps(b).encode() for i, b in enumerate(bodies)] + [b"\x00{", b"\x01[]", b"\x02null"]


def csv_import_target(data: bytes) -> None:
    from gateway.signin import importer
    from gateway.errors import ImportRefused

    text = data.decode("utf-8", "replace")
    with _web().app_context():
        try:
            result = importer.plan(text)
        except ImportRefused:
            return
        lines = {row.line for row in result.accepted} | {line for line, _why in result.rejected}
        assert len(lines) == len(result.accepted) + len(result.rejected)  # one verdict per line


def csv_import_seeds() -> list[bytes]:
    head = b"name,display name,email,groups,pcs\n"
    return [head + b"ann,Ann B,ann@example.com,staff;sales,desk-1\n",
            head + b"bob,,,,\nbob,,,,\n\"un,closed\n",
            head + b"boss,Boss,boss@x,,\n\xef\xbb\xbfx\x00y,\xff,@,;;,desk-9\n",
            b"\xef\xbb\xbfname,display name,email,groups,pcs,extra\n c ,C,c@d,g,\n",
            b"not,a,header\n", b""]
