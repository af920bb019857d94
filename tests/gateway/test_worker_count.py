"""How many ``serve`` processes a setting means (``gateway.workers.count``), and what config refuses."""

import os

import pytest

from gateway.config import load_settings
from gateway.errors import ConfigError
from gateway.workers import count


@pytest.mark.parametrize("value", [None, "", "auto", 0, "0"])
def test_auto_is_one_per_core_with_a_shared_redis_and_one_with_the_embedded(value):
    assert count(value) == (os.cpu_count() or 1)
    assert count(value, embedded_redis=True) == 1


@pytest.mark.parametrize("value, n", [("1", 1), ("3", 3), (2, 2)])
def test_a_number_is_that_many(value, n):
    assert count(value) == n


@pytest.mark.parametrize("value", ["-1", "many", "1.5"])
def test_anything_else_is_refused(value):
    with pytest.raises(ValueError):
        count(value)


def _settings(monkeypatch, tmp_path, **env):
    for key in [k for k in os.environ if k.startswith("PONTE_") or k == "REDIS_URL"]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PONTE_INSTANCE_PATH", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings(None)


def test_the_default_is_auto_and_the_embedded_redis_keeps_it_to_one(monkeypatch, tmp_path):
    settings = _settings(monkeypatch, tmp_path)
    assert settings.workers == "auto" and settings.embedded_redis
    assert count(settings.workers, embedded_redis=settings.embedded_redis) == 1


def test_more_than_one_worker_on_the_embedded_redis_is_refused(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="shared Redis"):
        _settings(monkeypatch, tmp_path, PONTE_WORKERS="2")
