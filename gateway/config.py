"""Gateway settings: one frozen dataclass read from TOML, environment and overrides.

Precedence, lowest first: defaults, ``[gateway]`` table of the TOML file,
``PONTE_<KEY>`` environment variables, explicit overrides (tests, CLI flags).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_TICKET_TTL = 30
DEFAULT_HEARTBEAT = 15.0
DEFAULT_STREAM_TIMEOUT = 10.0
DEFAULT_STREAM_PING_INTERVAL = 15.0  # a silent stream peer is dropped after 3 of these (~45 s)
DEFAULT_DRAIN_TIMEOUT = 10.0
DEFAULT_NODE_TTL = 30  # a node whose record is this old is dead: survivors close its sessions
DEFAULT_LOGIN_LIMIT = "10 per minute"  # per client IP, every attempt
DEFAULT_ACCOUNT_LOGIN_LIMIT = "20 per hour"  # per account name, failed attempts only
DEFAULT_PREFIX = "ponte:"


class ConfigError(Exception):
    """A setting is missing, malformed or contradictory."""


@dataclass(frozen=True)
class GatewaySettings:
    instance_path: str = "instance"
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = DEFAULT_PREFIX
    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    public_url: str = ""
    allowed_origins: tuple[str, ...] = ()
    secret_key: str = ""
    secure_cookies: bool | None = None
    ticket_ttl: int = DEFAULT_TICKET_TTL
    heartbeat: float = DEFAULT_HEARTBEAT
    stream_timeout: float = DEFAULT_STREAM_TIMEOUT
    #: WebSocket ping on every stream hop (viewer, agent, node to node); any
    #: frame received counts as life, silence for 3 intervals ends the session.
    stream_ping_interval: float = DEFAULT_STREAM_PING_INTERVAL
    #: SIGTERM: at most this long to tell viewers and agents and write every record.
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    #: Lifetime of the node's ``node:<id>`` record, refreshed every third of it.
    node_ttl: int = DEFAULT_NODE_TTL
    login_limit: str = DEFAULT_LOGIN_LIMIT
    account_login_limit: str = DEFAULT_ACCOUNT_LOGIN_LIMIT
    node_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    node_address: str = ""
    max_message: int = 4 * 1024 * 1024
    http_timeout: float = 30.0
    metrics_token: str = ""
    #: How many reverse proxies sit in front (0 = none). Only then are their
    #: X-Forwarded-For/-Proto/-Host headers believed: client IPs in audit,
    #: rate limits and Origin checks depend on it.
    trusted_proxies: int = 0

    @property
    def public_origin(self) -> str:
        """``scheme://host[:port]`` browsers will send as Origin."""
        url = self.public_url or f"http://{self.bind}:{self.port}"
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.public_origin.startswith("https://")


_FIELDS = {f.name: f for f in dataclasses.fields(GatewaySettings)}


def _coerce(name: str, value):
    kind = _FIELDS[name].type
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool | None":
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in {"1", "true", "yes", "on"}
        if kind == "tuple[str, ...]":
            if isinstance(value, str):
                value = [v for v in (p.strip() for p in value.split(",")) if v]
            return tuple(str(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: {value!r} is not a valid {kind}") from exc
    return str(value)


def load_settings(path: str | os.PathLike | None = None, overrides: dict | None = None,
                  environ: dict | None = None) -> GatewaySettings:
    """Build settings from defaults, ``path`` (TOML), ``PONTE_*`` and ``overrides``."""
    values: dict = {}
    environ = os.environ if environ is None else environ
    path = path or environ.get("PONTE_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                table = tomllib.load(fh).get("gateway", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        values.update(table)
    for name in _FIELDS:
        env = environ.get(f"PONTE_{name.upper()}")
        if env is not None:
            values[name] = env
    if environ.get("REDIS_URL") and "redis_url" not in values:
        values["redis_url"] = environ["REDIS_URL"]
    values.update(overrides or {})
    unknown = set(values) - set(_FIELDS)
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    settings = GatewaySettings(**{k: _coerce(k, v) for k, v in values.items()})
    return finish(settings)


def finish(settings: GatewaySettings) -> GatewaySettings:
    """Fill what depends on the instance folder: database path, secret key."""
    instance = Path(settings.instance_path).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    changes = {"instance_path": str(instance)}
    if not settings.database_url:
        changes["database_url"] = f"sqlite:///{instance / 'ponte.db'}"
    if not settings.secret_key:
        changes["secret_key"] = _instance_secret(instance / "secret_key")
    return dataclasses.replace(settings, **changes)


def _instance_secret(path: Path) -> str:
    """The session-signing key, generated once per instance and kept 0600."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
