"""Static files: versioned URLs cached for a year, gzip for browsers that take it (issue 13)."""

from __future__ import annotations

import gzip
import re

import pytest

from gateway.assets import NOVNC_PACKAGE, NOVNC_STATIC, novnc_version


@pytest.fixture
def emp(client, login, world):
    return login("emp")


def _versioned(html: str, name: str) -> str:
    return re.search(rf'"(/assets/v[0-9a-f]{{16}}/{re.escape(name)})"', html).group(1)


def test_pages_link_versioned_assets_kept_for_a_year(client):
    url = _versioned(client.get("/login").get_data(as_text=True), "style.css")
    resp = client.get(url)
    assert resp.status_code == 200 and resp.data == (NOVNC_STATIC / "style.css").read_bytes()
    cache = resp.headers["Cache-Control"]
    assert "max-age=31536000" in cache and "immutable" in cache and "public" in cache
    assert "Accept-Encoding" in resp.headers["Vary"]
    # The same name with a digest of other bytes (a page from before a deploy): not kept long.
    stale = client.get("/assets/v0000000000000000/style.css")
    assert stale.status_code == 200 and "immutable" not in stale.headers["Cache-Control"]
    assert "max-age=300" in client.get("/assets/style.css").headers["Cache-Control"]


def test_modules_imported_by_relative_paths_are_versioned_too(client, emp):
    page = client.get("/").get_data(as_text=True)
    portal = _versioned(page, "portal.js")
    assert "from './i18n.js'" in client.get(portal).get_data(as_text=True)
    imported = client.get(portal.rsplit("/", 1)[0] + "/i18n.js")  # where the browser resolves it
    assert imported.status_code == 200 and "immutable" in imported.headers["Cache-Control"]
    for bad in ("/assets/v1/v2/i18n.js", "/assets/x/i18n.js", "/assets/v1/../secret_key", "/assets/v1/package.json"):
        assert client.get(bad).status_code == 404, bad


def test_gzip_only_for_browsers_that_take_it(client):
    plain = client.get("/assets/viewer.js")
    assert "Content-Encoding" not in plain.headers
    assert plain.data == (NOVNC_STATIC / "viewer.js").read_bytes()
    assert plain.mimetype == "text/javascript"  # module scripts need a JavaScript type
    squeezed = client.get("/assets/viewer.js", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert squeezed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(squeezed.data) == plain.data and len(squeezed.data) < len(plain.data) / 2
    refused = client.get("/assets/viewer.js", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    # Revalidation answers 304 for the encoding the browser holds.
    again = client.get("/assets/viewer.js", headers={"Accept-Encoding": "gzip",
                                                      "If-None-Match": squeezed.headers["ETag"]})
    assert again.status_code == 304 and not again.data


def test_novnc_modules_versioned_in_the_path_so_relative_imports_stay_versioned(client, emp, world):
    html = client.get("/view/desk-1").get_data(as_text=True)
    rfb = re.search(r'data-novnc="([^"]+)"', html).group(1)
    assert rfb == f"/novnc/v{novnc_version()}/core/rfb.js"
    resp = client.get(rfb, headers={"Accept-Encoding": "gzip"})
    assert "immutable" in resp.headers["Cache-Control"] and resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(resp.data) == (NOVNC_PACKAGE / "core" / "rfb.js").read_bytes()
    # rfb.js imports "./util/logging.js": resolved against the versioned URL it stays versioned.
    assert "from './util/logging.js'" in (NOVNC_PACKAGE / "core" / "rfb.js").read_text()
    module = client.get(f"/novnc/v{novnc_version()}/core/util/logging.js")
    assert module.status_code == 200 and "immutable" in module.headers["Cache-Control"]
    for bad in ("/novnc/v0.0.0/core/rfb.js", "/novnc/core/../package.json", "/novnc/package.json",
                f"/novnc/v{novnc_version()}/../package.json"):
        assert client.get(bad).status_code == 404, bad


def test_the_viewer_page_ships_a_fraction_compressed(client, emp, world):
    """What a first visit to the viewer downloads: Ponte's files and noVNC's modules it imports."""
    html = client.get("/view/desk-1").get_data(as_text=True)
    urls = re.findall(r'(?:src|href|data-novnc|data-keysyms)="(/(?:assets|novnc)/[^"]+)"', html)
    plain = squeezed = 0
    for url in urls:
        plain += len(client.get(url).data)
        squeezed += len(client.get(url, headers={"Accept-Encoding": "gzip"}).data)
    assert urls and squeezed < plain / 3, (plain, squeezed)
