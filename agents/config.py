"""Agent settings: ``agent.toml`` ``[agent]`` table, ``PONTE_AGENT_*``, CLI flags.

Precedence, lowest first: defaults, the ``[agent]`` table of the TOML file
(``--config`` or ``$PONTE_AGENT_CONFIG``), ``PONTE_AGENT_<KEY>`` environment
variables, command-line flags (``--<key-with-dashes>``). Every field of
``AgentSettings`` is a key in all three places.

The machine credential lives in its own file, created 0600 (on Windows in
the user's profile, which only that user and administrators can read).

Errors: ``ConfigError``, a setting is missing, unknown or malformed
(drawn in ``agents/errors.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .protocol import security as sec
from .protocol import settings as settings_format
from .protocol.errors import SettingsError
from .protocol.settings import tomllib
from .protocol.security import Credentials
from .protocol.tls import Trust
from .transport import TLSOptions, pins

DEFAULT_VNC_HOST = "127.0.0.1"
DEFAULT_VNC_PORT = 5900
DEFAULT_VNC_TIMEOUT = 10.0
DEFAULT_LOG_MAX_BYTES = 5_000_000
DEFAULT_LOG_BACKUPS = 5
#: The largest file the agent takes or sends (the gateway has a limit of its own, ``file_max_bytes``).
DEFAULT_FILES_MAX_BYTES = 1024 ** 3
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def default_config_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "Ponte"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Ponte"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "ponte"


@dataclass(frozen=True)
class AgentSettings:
    """Everything the agent can be told; see ``config/agent.toml`` for each key."""

    gateway: str = ""
    credential_file: str = ""
    vnc_host: str = DEFAULT_VNC_HOST
    vnc_port: int = DEFAULT_VNC_PORT
    vnc_password: str = ""
    vnc_password_file: str = ""
    vnc_username: str = ""
    vnc_ca_file: str = ""
    vnc_pin_sha256: str = ""
    vnc_security: str = ""
    vnc_timeout: float = DEFAULT_VNC_TIMEOUT
    ca_bundle: str = ""
    pin_sha256: str = ""
    insecure_dev: bool = False
    log_file: str = ""
    log_level: str = "INFO"
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES
    log_backups: int = DEFAULT_LOG_BACKUPS
    #: Where files sent from the viewer land (empty: the user's Downloads folder).
    files_folder: str = ""
    #: Folders whose files the viewer may fetch, comma-separated (empty: ``files_folder``).
    files_download_folders: str = ""
    files_max_bytes: int = DEFAULT_FILES_MAX_BYTES

    @property
    def upload_folder(self) -> Path:
        return Path(self.files_folder).expanduser() if self.files_folder else Path.home() / "Downloads"

    @property
    def download_folders(self) -> tuple[Path, ...]:
        named = [Path(p.strip()).expanduser() for p in self.files_download_folders.split(",") if p.strip()]
        return tuple(named) or (self.upload_folder,)

    @property
    def tls(self) -> TLSOptions:
        return TLSOptions(ca_bundle=self.ca_bundle, pin_sha256=self.pin_sha256, insecure_dev=self.insecure_dev)

    @property
    def credential_path(self) -> Path:
        return Path(self.credential_file) if self.credential_file else default_config_dir() / "credential"

    def vnc_secret(self) -> str | None:
        """The VNC password, from the setting or its file (first line); ``None`` if neither."""
        if self.vnc_password:
            return self.vnc_password
        if self.vnc_password_file:
            try:
                lines = Path(self.vnc_password_file).read_text(encoding="utf-8-sig").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read vnc_password_file {self.vnc_password_file}: {exc}") from exc
            return lines[0] if lines and lines[0] else None
        return None

    def vnc_credentials(self) -> Credentials:
        """What the agent logs in to the VNC server with (reads the password file now)."""
        return Credentials(password=self.vnc_secret(), username=self.vnc_username,
                           trust=Trust(ca_file=self.vnc_ca_file, pins=tuple(pins(self.vnc_pin_sha256))),
                           allowed=security_methods(self.vnc_security))


#: ``vnc_security`` names (case and punctuation ignored) → methods.
SECURITY_NAMES = {
    "none": sec.NONE, "vncauth": sec.VNC_AUTH, "tight": sec.TIGHT, "ard": sec.ARD, "appleard": sec.ARD,
    "mslogon2": sec.MSLOGON2, "mslogonii": sec.MSLOGON2, "plain": sec.PLAIN,
    "tlsnone": sec.TLS_NONE, "tlsvnc": sec.TLS_VNC, "tlsplain": sec.TLS_PLAIN,
    "x509none": sec.X509_NONE, "x509vnc": sec.X509_VNC, "x509plain": sec.X509_PLAIN,
}


def security_methods(value: str) -> frozenset[int]:
    """The methods a ``vnc_security`` value allows (empty: every one the agent supports)."""
    out = set()
    for item in value.split(","):
        key = re.sub(r"[^a-z0-9]", "", item.lower())
        if not key:
            continue
        if key not in SECURITY_NAMES:
            raise ConfigError(f"vnc_security: unknown method {item.strip()!r}; use any of "
                              "None, VncAuth, Tight, ARD, MSLogonII, Plain, TLSNone, TLSVnc, TLSPlain, "
                              "X509None, X509Vnc, X509Plain")
        out.add(SECURITY_NAMES[key])
    return frozenset(out)


FIELDS = {f.name: f for f in dataclasses.fields(AgentSettings)}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _validate(s: AgentSettings) -> None:
    if not 1 <= s.vnc_port <= 65535:
        raise ConfigError(f"vnc_port must be 1-65535, not {s.vnc_port}")
    if not 0.5 <= s.vnc_timeout <= 300:
        raise ConfigError(f"vnc_timeout must be 0.5-300 seconds, not {s.vnc_timeout}")
    if s.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {s.log_level!r}")
    if s.log_max_bytes < 1024 or s.log_backups < 1:
        raise ConfigError("log_max_bytes must be at least 1024 and log_backups at least 1")
    for key in ("pin_sha256", "vnc_pin_sha256"):
        for pin in pins(getattr(s, key)):
            if not _HEX64.fullmatch(pin):
                raise ConfigError(f"{key} must be SHA-256 fingerprints in hex (64 digits, ':' allowed), "
                                  f"not {pin!r}")
    security_methods(s.vnc_security)
    if s.files_max_bytes < 0:
        raise ConfigError(f"files_max_bytes must be 0 (no files) or more, not {s.files_max_bytes}")
    if s.gateway and not re.match(r"(?i)(https?|wss?)://[^/]", s.gateway):
        raise ConfigError(f"gateway must be a URL such as https://ponte.example.com, not {s.gateway!r}")


def load_settings(path: str | None = None, overrides: dict | None = None,
                  environ: dict | None = None) -> AgentSettings:
    """Build settings from defaults, ``path`` (TOML), ``PONTE_AGENT_*`` and ``overrides`` (None: not given)."""
    environ = os.environ if environ is None else environ
    values: dict = {}
    path = path or environ.get("PONTE_AGENT_CONFIG")
    try:
        if path:
            values.update(settings_format.toml_table(_read(path), "agent", path))
        values.update(settings_format.from_environment(AgentSettings, environ, "PONTE_AGENT_"))
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        result = settings_format.build(AgentSettings, values, what="agent settings")
    except SettingsError as exc:
        raise ConfigError(str(exc)) from exc
    _validate(result)
    return result


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def save_credential(path: Path, gateway: str, credential: str) -> None:
    """Write the credential file readable by its owner only (0600; folder 0700 if we create it)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        # json.dumps of a str is a valid TOML basic string (same escapes).
        fh.write(f"gateway = {json.dumps(gateway)}\ncredential = {json.dumps(credential)}\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_credential(path: Path) -> tuple[str, str]:
    """``(gateway, credential)`` from the credential file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"no usable credential at {path} ({exc}); run 'python -m agents enroll' first") from exc
    if not isinstance(data.get("credential"), str) or not isinstance(data.get("gateway"), str):
        raise ConfigError(f"credential file {path} is incomplete; enrol again")
    if sys.platform != "win32":
        try:
            mode = path.stat().st_mode & 0o077
        except OSError:
            mode = 0
        if mode:
            logging.getLogger(__name__).warning(
                "credential file %s is readable by other users; run: chmod 600 %s", path, path)
    return data["gateway"], data["credential"]
