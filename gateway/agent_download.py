"""``/download/ponte-agent.pyz`` and the per-OS install lines of the enrol page.

The download needs no login, on purpose: the file holds no secret (no
gateway URL, no credential; the same bytes for every PC), and what lets a PC
in is the one-time enrolment code, which only the admin's enrol page shows.
An office PC can so fetch it with ``curl`` from the line the admin pastes.
Security headers come from Talisman like on every response (``headers.py``).

The archive is built on first use (``agent_zipapp``) into the instance
folder, under the instance's umask (0600 files, 0700 folder), and reused
while its inputs are unchanged. Under ``serve`` the build runs in gevent's
threadpool, so the one-off ~0.1 s of zipping does not stall the relays.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask, current_app, render_template, send_file

from . import agent_zipapp
from .errors import ArchiveError
from .headers import external_url
from .instance import private_files
from .loop import off_loop

bp = Blueprint("agent_download", __name__)

DOWNLOAD_PATH = "/download/" + agent_zipapp.ARCHIVE_NAME
#: Not ``application/zip``: Safari's "open safe files after downloading" unpacks
#: files it takes for archives, and the PC needs the one file as it is.
CONTENT_TYPE = "application/octet-stream"

INSECURE_WARNING = (
    "This gateway's address starts with http://, not https://: the agent's traffic, its credential "
    "and the PC's screen would cross the network unencrypted. The lines below therefore carry "
    "--insecure-dev, without which the agent refuses a plain-http gateway. Use them only for a demo "
    "or a test; for real PCs serve the gateway over https (public_url).")

_lock = threading.Lock()  # gevent's lock under serve (monkey-patched)


@dataclass(frozen=True)
class OsLines:
    """What to paste on one kind of PC."""

    os: str
    where: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class InstallInfo:
    """Everything the enrol page's install partial shows."""

    download_url: str
    sha256: str
    size: int
    insecure: bool
    warning: str
    systems: tuple[OsLines, ...]
    #: Why the file cannot be offered (a dependency missing where the gateway runs), else "".
    error: str = ""


def install_lines(base_url: str, code: str) -> tuple[OsLines, ...]:
    """Per OS: download the agent, then enrol with ``code`` and install it as a service."""
    url = base_url + DOWNLOAD_PATH
    name = agent_zipapp.ARCHIVE_NAME
    flags = f"install --gateway {base_url} --code {code}"
    if not base_url.startswith("https://"):
        flags += " --insecure-dev"
    return (
        # curl.exe ships with Windows 10 (1803) and later; "curl" alone is PowerShell's
        # Invoke-WebRequest alias there. py is the launcher python.org's installer adds.
        OsLines("Windows", "PowerShell, run as administrator",
                (f"curl.exe -fLo {name} {url}", f"py {name} {flags}")),
        OsLines("macOS", "Terminal; sudo asks for your macOS password",
                (f"curl -fLO {url}", f"sudo python3 {name} {flags}")),
        OsLines("Linux", "a terminal",
                (f"curl -fLO {url}", f"sudo python3 {name} {flags}")),
    )


def archive(app: Flask) -> agent_zipapp.AgentArchive:
    """The app's ``ponte-agent.pyz``, built once per process (and reused across restarts)."""
    built = app.extensions.get("ponte.agent_archive")
    if built is not None and built.path.is_file():
        return built
    with _lock:
        built = app.extensions.get("ponte.agent_archive")
        if built is None or not built.path.is_file():
            folder = Path(app.instance_path) / "agent"
            built = off_loop(_build_private, folder)
            app.extensions["ponte.agent_archive"] = built
    return built


def _build_private(folder: Path) -> agent_zipapp.AgentArchive:
    with private_files():
        return agent_zipapp.build(folder)


def install_info(code: str) -> InstallInfo:
    """For the enrol page: the download, its checksum and the lines with ``code`` filled in."""
    base = external_url(current_app.config["PONTE"])
    try:
        built = archive(current_app)
    except ArchiveError as exc:
        return InstallInfo(download_url="", sha256="", size=0, insecure=False, warning="", systems=(),
                           error=str(exc))
    return InstallInfo(download_url=base + DOWNLOAD_PATH, sha256=built.sha256, size=built.size,
                       insecure=not base.startswith("https://"), warning=INSECURE_WARNING,
                       systems=install_lines(base, code))


@bp.record_once
def _register_template_global(state) -> None:
    state.app.add_template_global(install_info, "agent_install_info")


@bp.errorhandler(ArchiveError)
def _cannot_build(exc):
    current_app.logger.error("cannot build %s: %s", agent_zipapp.ARCHIVE_NAME, exc)
    return render_template("error.html", status=503, message=(
        "The agent's file cannot be built on this gateway right now; the gateway's log says why.")), 503


@bp.get(DOWNLOAD_PATH)
def download():
    built = archive(current_app)
    response = send_file(built.path, mimetype=CONTENT_TYPE, as_attachment=True,
                         download_name=agent_zipapp.ARCHIVE_NAME, etag=built.sha256, max_age=0)
    # RFC 9530: lets a script check what it got without the page.
    response.headers["Repr-Digest"] = f"sha-256=:{_b64(built.sha256)}:"
    return response


@bp.get(DOWNLOAD_PATH + ".sha256")
def checksum():
    """``sha256sum -c`` format: ``<hex>  ponte-agent.pyz``."""
    built = archive(current_app)
    return (f"{built.sha256}  {agent_zipapp.ARCHIVE_NAME}\n", 200,
            {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache"})


def _b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode()
