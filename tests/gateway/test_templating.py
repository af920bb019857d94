"""The app-wide template filters: registered by the app factory, and what they print."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from gateway import templating


def test_the_app_factory_registers_every_filter(app):
    for name, fn in templating.FILTERS.items():
        assert app.jinja_env.filters[name] is fn


@pytest.mark.parametrize("filter_, value, shown", [
    ("utc", None, "—"), ("utc", datetime(2026, 3, 1, 14, 5, 59), "2026-03-01 14:05 UTC"),
    ("utc", 0, "1970-01-01 00:00 UTC"),
    ("iso", "", ""), ("iso", datetime(2026, 3, 1, 14, 5, 59, 123), "2026-03-01T14:05:59Z"),
    ("span", 42, "42 s"), ("span", 300, "5 min"), ("span", 7500, "2 h 05 min"), ("span", 273600, "3 d 4 h"),
    ("span", None, "0 s"),
    ("size", 512, "512 B"), ("size", 1536, "1.5 KB"), ("size", 5 * 1024 ** 2, "5.0 MB"),
    ("size", 3 * 1024 ** 4, "3072.0 GB"),
    ("ago", None, "never"),
])
def test_filters(filter_, value, shown):
    assert templating.FILTERS[filter_](value) == shown


def test_ago_counts_from_now():
    assert templating.ago(time.time() - 125) == "2 min ago"
