"""Agent settings: ``agent.toml`` ``[agent]`` table, ``PONTE_AGENT_*``, CLI flags.

The machine credential lives in its own file, created 0600 (on Windows in
the user's profile, which only that user and administrators can read).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .transport import TLSOptions

DEFAULT_VNC_HOST = "127.0.0.1"
DEFAULT_VNC_PORT = 5900


class ConfigError(Exception):
    """A setting is missing or malformed."""


def default_config_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "Ponte"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Ponte"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "ponte"


@dataclass(frozen=True)
class AgentSettings:
    gateway: str = ""
    credential_file: str = ""
    vnc_host: str = DEFAULT_VNC_HOST
    vnc_port: int = DEFAULT_VNC_PORT
    vnc_password: str = ""
    vnc_password_file: str = ""
    ca_bundle: str = ""
    pin_sha256: str = ""
    insecure_dev: bool = False
    log_file: str = ""
    log_level: str = "INFO"

    @property
    def tls(self) -> TLSOptions:
        return TLSOptions(ca_bundle=self.ca_bundle, pin_sha256=self.pin_sha256, insecure_dev=self.insecure_dev)

    @property
    def credential_path(self) -> Path:
        return Path(self.credential_file) if self.credential_file else default_config_dir() / "credential"

    def vnc_secret(self) -> str | None:
        """The VNC password, from the setting or its file (first line)."""
        if self.vnc_password:
            return self.vnc_password
        if self.vnc_password_file:
            try:
                return Path(self.vnc_password_file).read_text().splitlines()[0]
            except (OSError, IndexError) as exc:
                raise ConfigError(f"cannot read vnc_password_file: {exc}") from exc
        return None


FIELDS = {f.name: f for f in dataclasses.fields(AgentSettings)}


def load_settings(path: str | None = None, overrides: dict | None = None,
                  environ: dict | None = None) -> AgentSettings:
    environ = os.environ if environ is None else environ
    values: dict = {}
    path = path or environ.get("PONTE_AGENT_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                values.update(tomllib.load(fh).get("agent", {}))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
    for name in FIELDS:
        if f"PONTE_AGENT_{name.upper()}" in environ:
            values[name] = environ[f"PONTE_AGENT_{name.upper()}"]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ConfigError(f"unknown agent settings: {', '.join(sorted(unknown))}")
    try:
        if "vnc_port" in values:
            values["vnc_port"] = int(values["vnc_port"])
        if isinstance(values.get("insecure_dev"), str):
            values["insecure_dev"] = values["insecure_dev"].lower() in {"1", "true", "yes", "on"}
    except ValueError as exc:
        raise ConfigError(f"bad setting: {exc}") from exc
    return AgentSettings(**values)


def save_credential(path: Path, gateway: str, credential: str) -> None:
    """Write the credential file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"gateway = {gateway!r}\ncredential = {credential!r}\n".replace("'", '"'))
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
    return data["gateway"], data["credential"]
