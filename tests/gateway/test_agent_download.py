"""The agent's download (``/download/ponte-agent.pyz``) and the enrol page's install lines."""

from __future__ import annotations

import hashlib
import io
import re
import stat
import zipfile
from pathlib import Path

import pytest

from gateway import agent_download, agent_zipapp
from tests.support.web import AuthActions


def test_download_needs_no_login_and_is_the_checksummed_zipapp(app, client):
    resp = client.get("/download/ponte-agent.pyz")
    assert resp.status_code == 200
    assert resp.mimetype == "application/octet-stream"
    assert resp.headers["Content-Disposition"] == "attachment; filename=ponte-agent.pyz"
    # the security headers of every response (headers.py)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    body = resp.get_data()
    digest = hashlib.sha256(body).hexdigest()
    assert resp.headers["ETag"] == f'"{digest}"'
    assert client.get("/download/ponte-agent.pyz.sha256").get_data(as_text=True) == f"{digest}  ponte-agent.pyz\n"
    assert body.startswith(b"#!/usr/bin/env python3\n")
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    for name in ("__main__.py", "agents/__main__.py", "agents/service/__init__.py", "agents/service/plan.py",
                 "agents/protocol/rfb.py",
                 "websockify/websocket.py", "tomli/__init__.py", "tomli/_parser.py",
                 "vendor-licenses/websockify/COPYING"):
        assert name in names, name
    assert not [n for n in names if n.endswith((".so", ".pyd", ".pyc")) or "__pycache__" in n]
    # a second request is served from the same build, with a conditional GET answered 304
    again = client.get("/download/ponte-agent.pyz", headers={"If-None-Match": f'"{digest}"'})
    assert again.status_code == 304


def test_the_build_is_private_in_the_instance_folder(app, client):
    client.get("/download/ponte-agent.pyz")
    folder = Path(app.instance_path) / "agent"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "ponte-agent.pyz").stat().st_mode) == 0o600


def test_same_inputs_same_bytes_and_a_changed_input_rebuilds(tmp_path):
    first = agent_zipapp.build(tmp_path / "a")
    second = agent_zipapp.build(tmp_path / "b")
    assert first.sha256 == second.sha256 and first.size == second.size
    # the cache: kept while the stamp matches; a stale stamp makes it build again, identically
    (tmp_path / "a" / "ponte-agent.pyz.inputs").write_text("stale\n")
    assert agent_zipapp.build(tmp_path / "a").sha256 == first.sha256
    files = {"x/__init__.py": tmp_path / "x.py"}
    files["x/__init__.py"].write_text("A = 1\n")
    before = agent_zipapp.inputs_digest(files)
    files["x/__init__.py"].write_text("A = 2\n")
    assert agent_zipapp.inputs_digest(files) != before


def _enrol_page(app) -> tuple[str, str]:
    from gateway import ops

    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True)
    c = app.test_client()
    a = AuthActions(c)
    a.login("boss", "bosspass1")
    resp = c.post("/admin/machines", data={"csrf_token": a.csrf, "name": "front-desk"})
    assert resp.status_code == 201
    html = resp.get_data(as_text=True)
    code = re.search(r'id="enrol-code">([A-Z0-9-]+)<', html).group(1)
    return html, code


def _line(html: str, ident: str) -> str:
    return re.search(rf'id="{ident}">([^<]+)</code>', html).group(1)


def test_enrol_page_on_plain_http_gives_lines_with_insecure_dev_and_says_why(app):
    html, code = _enrol_page(app)
    built = agent_download.archive(app)
    assert 'href="http://localhost/download/ponte-agent.pyz"' in html and "Download the agent" in html
    assert _line(html, "agent-sha256") == built.sha256
    flags = f"install --gateway http://localhost --code {code} --insecure-dev"
    assert _line(html, "install-windows-1") == "curl.exe -fLo ponte-agent.pyz http://localhost/download/ponte-agent.pyz"
    assert _line(html, "install-windows-2") == f"py ponte-agent.pyz {flags}"
    for system in ("macos", "linux"):
        assert _line(html, f"install-{system}-1") == "curl -fLO http://localhost/download/ponte-agent.pyz"
        assert _line(html, f"install-{system}-2") == f"sudo python3 ponte-agent.pyz {flags}"
    warning = re.search(r'id="agent-insecure">([^<]+)<', html).group(1)
    assert "unencrypted" in warning and "--insecure-dev" in warning and "https" in warning
    # the lines for a PC that already has the agent say so too
    assert "on this plain-http gateway add <code>--insecure-dev</code> to both" in html


def test_enrol_page_on_https_has_no_insecure_flag(tmp_path, redis_server, prefix):
    from gateway import create_app

    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "public_url": "https://ponte.example.com"})
    html, code = _enrol_page(app)
    assert _line(html, "install-linux-1") == "curl -fLO https://ponte.example.com/download/ponte-agent.pyz"
    assert _line(html, "install-linux-2") == (
        f"sudo python3 ponte-agent.pyz install --gateway https://ponte.example.com --code {code}")
    assert "--insecure-dev" not in html.split('id="enrol-command"')[0]
    assert 'id="agent-insecure"' not in html and "plain-http gateway add" not in html


def test_a_dependency_missing_on_the_gateway_is_said_not_crashed(app, client, monkeypatch):
    monkeypatch.setattr(agent_zipapp, "VENDORED", ("websockify", "no_such_package_for_ponte"))
    resp = client.get("/download/ponte-agent.pyz")
    assert resp.status_code == 503 and "cannot be built" in resp.get_data(as_text=True)
    html, _code = _enrol_page(app)
    assert "no_such_package_for_ponte is not installed" in html


@pytest.mark.parametrize("base", ["http://127.0.0.1:8080", "https://ponte.example.com"])
def test_install_lines_fill_in_url_and_code(base):
    systems = agent_download.install_lines(base, "ABCD-EFGH")
    assert [s.os for s in systems] == ["Windows", "macOS", "Linux"]
    for s in systems:
        assert len(s.lines) == 2
        assert s.lines[0].endswith(f"{base}/download/ponte-agent.pyz")
        assert f"install --gateway {base} --code ABCD-EFGH" in s.lines[1]
        assert s.lines[1].endswith("--insecure-dev") == base.startswith("http://")


def test_everything_requirements_agent_lists_is_vendored():
    """A dependency added to requirements-agent.txt must reach the archive too (VENDORED)."""
    text = (Path(agent_zipapp.ROOT) / "requirements-agent.txt").read_text()
    names = {line.split("==")[0].split(";")[0].strip().lower() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")}
    assert names == set(agent_zipapp.VENDORED)
