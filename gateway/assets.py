"""Serving Ponte's static files: versioned URLs cached for a year, gzip for browsers that take it.

The viewer alone loads about 575 KB of JavaScript (noVNC's modules and ours), 130 KB gzipped.
Pages link Ponte's own files as ``/assets/v<build>/<name>`` and noVNC's as
``/novnc/v<version>/core/…``. Both put the version in the path because the modules import each
other by relative paths (``./i18n.js``), which then resolve to the same version; ``<build>`` is a
digest of all of Ponte's own files together, so it changes whenever any of them does. Such a URL
always means the same bytes, so browsers keep it for a year (``immutable``) and a deploy changes
the URL. The plain URLs (and another build's) still work, cached briefly.
Compressed copies are made once per file and kept in memory (a few hundred KB in all).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from flask import Response, abort, request, url_for

ROOT = Path(__file__).resolve().parent.parent
NOVNC_STATIC = ROOT / "novnc_static"
NOVNC_PACKAGE = NOVNC_STATIC / "node_modules" / "@novnc" / "novnc"
#: Ponte's own files under novnc_static/ (never the npm folder or the lock file).
ASSETS = frozenset({"viewer.js", "portal.js", "wake.js", "admin.js", "style.css", "passkeys.js", "i18n.js",
                    "notices.js", "viewer_quality.js", "takeover.js", "share.js", "files.js", "player.js",
                    "signup.js", "viewer_state.js", "viewer_chrome.js", "viewer_touch.js", "viewer_clipboard.js"})
YEAR = 365 * 24 * 3600
SHORT_AGE = 300      # an unversioned URL: a deploy shows within minutes
MIN_GZIP = 512       # below this gzip saves nothing worth a header

mimetypes.add_type("text/javascript", ".js")  # the HTML standard's type; module scripts need a JS type


@dataclass(frozen=True)
class _File:
    data: bytes
    gzipped: bytes | None
    digest: str
    mimetype: str


_cache: dict[tuple[Path, int, int], _File] = {}


def _load(path: Path) -> _File:
    stat = path.stat()
    key = (path, stat.st_mtime_ns, stat.st_size)
    found = _cache.get(key)
    if found is None:
        data = path.read_bytes()
        squeezed = gzip.compress(data, compresslevel=9, mtime=0) if len(data) >= MIN_GZIP else None
        found = _File(data, squeezed if squeezed and len(squeezed) < len(data) else None,
                      hashlib.sha256(data).hexdigest()[:16],
                      mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        _cache[key] = found
    return found


def novnc_version() -> str:
    try:
        return json.loads((NOVNC_PACKAGE / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "0"


def build() -> str:
    """A digest of all of Ponte's own files: the version in their URLs."""
    digests = "".join(_load(NOVNC_STATIC / name).digest for name in sorted(ASSETS))
    return hashlib.sha256(digests.encode()).hexdigest()[:16]


def asset_url(name: str) -> str:
    """The versioned URL of one of Ponte's own files (a template global)."""
    return url_for("portal.assets", filename=f"v{build()}/{name}")


def novnc_url(module: str) -> str:
    """The versioned URL of a noVNC module, e.g. ``core/rfb.js`` (a template global)."""
    return url_for("portal.novnc", filename=f"v{novnc_version()}/{module}")


def send_asset(filename: str) -> Response:
    version, _, name = filename.rpartition("/")
    if name not in ASSETS or (version and not (version.startswith("v") and "/" not in version)):
        abort(404)
    return _send(_load(NOVNC_STATIC / name), immutable=version == f"v{build()}")


def send_novnc(filename: str) -> Response:
    immutable = False
    version = f"v{novnc_version()}/"
    if filename.startswith(version):
        filename, immutable = filename[len(version):], True
    if not filename.startswith(("core/", "vendor/")) or ".." in filename.split("/"):
        abort(404)
    path = NOVNC_PACKAGE / filename
    if not path.is_file():
        abort(404)
    return _send(_load(path), immutable=immutable)


def _send(found: _File, *, immutable: bool) -> Response:
    gz = found.gzipped is not None and request.accept_encodings["gzip"] > 0
    resp = Response(found.gzipped if gz else found.data, mimetype=found.mimetype)
    resp.vary.add("Accept-Encoding")
    if gz:
        resp.headers["Content-Encoding"] = "gzip"
    resp.set_etag(found.digest + ("-gz" if gz else ""))
    resp.cache_control.public = True
    resp.cache_control.max_age = YEAR if immutable else SHORT_AGE
    if immutable:
        resp.cache_control.immutable = True
    return resp.make_conditional(request)


def init_app(app) -> None:
    app.jinja_env.globals.update(asset_url=asset_url, novnc_url=novnc_url)
