"""Store settings: Redis Sentinel, database timeouts, hashing concurrency (gateway.toml / PONTE_*)."""

from __future__ import annotations

import os

import pytest

from gateway.config import ConfigError, load_settings
from gateway.live_redis import open_redis, sentinel_addresses


def settings(tmp_path, environ=None, **overrides):
    return load_settings(overrides={"instance_path": str(tmp_path), **overrides}, environ=environ or {})


def test_sentinel_settings_from_toml_and_environment(tmp_path):
    toml = tmp_path / "gateway.toml"
    toml.write_text('[gateway]\nredis_sentinels = ["10.0.0.1:26379", "[::1]:26380"]\n'
                    'redis_sentinel_service = "ponte"\nredis_password = "pw"\n')
    s = load_settings(toml, overrides={"instance_path": str(tmp_path)}, environ={"REDIS_URL": "redis://other"})
    assert s.redis_sentinels == ("10.0.0.1:26379", "[::1]:26380") and s.redis_url == ""  # REDIS_URL yields
    assert sentinel_addresses(s) == [("10.0.0.1", 26379), ("::1", 26380)]
    assert not s.embedded_redis
    env = settings(tmp_path, {"PONTE_REDIS_SENTINELS": "a:1,b:2", "PONTE_REDIS_SENTINEL_PASSWORD": "spw",
                              "PONTE_HASH_CONCURRENCY": "3", "PONTE_DATABASE_STATEMENT_TIMEOUT": "2.5"})
    assert env.redis_sentinels == ("a:1", "b:2") and env.redis_sentinel_password == "spw"
    assert env.redis_sentinel_service == "mymaster"
    assert env.hash_concurrency == 3 and env.database_statement_timeout == 2.5


def test_defaults(tmp_path):
    s = settings(tmp_path)
    assert s.hash_concurrency == (os.cpu_count() or 1)
    assert (s.database_connect_timeout, s.database_statement_timeout, s.database_pool_timeout) == (3.0, 5.0, 5.0)
    assert s.embedded_redis


@pytest.mark.parametrize("overrides, message", [
    ({"redis_url": "redis://x", "redis_sentinels": ["a:1"]}, "not both"),
    ({"redis_sentinels": ["nohostport"]}, "host:port"),
    ({"redis_sentinels": ["a:port"]}, "host:port"),
    ({"hash_concurrency": 0}, "hash_concurrency"),
    ({"database_statement_timeout": 0}, "database_statement_timeout"),
])
def test_bad_store_settings_are_refused(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, **overrides)


def test_rate_limits_share_the_sentinels(tmp_path):
    s = settings(tmp_path, redis_sentinels=["127.0.0.1:1", "127.0.0.1:2"], redis_sentinel_service="ponte",
                 redis_password="pw", redis_sentinel_password="spw")
    client, limits = open_redis(s)  # no connection is made until a command runs
    assert limits.uri == "redis+sentinel://127.0.0.1:1,127.0.0.1:2/ponte"
    assert limits.options["use_replicas"] is False and limits.options["password"] == "pw"
    assert limits.options["sentinel_kwargs"]["password"] == "spw"
    pool = client.connection_pool
    assert pool.service_name == "ponte" and pool.connection_kwargs["password"] == "pw"
    client.close()
