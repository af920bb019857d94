"""The app-wide Jinja filters (every blueprint's templates use them); ``init_app`` registers them.

Times are shown in UTC: the gateway does not know where its admins sit.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from flask import Flask


def _naive_utc(value):
    """An epoch number as a naive UTC datetime; a datetime as it is."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None)
    return value


def utc(value) -> str:
    """``2026-03-01 14:05 UTC``; a dash for nothing."""
    if value is None or value == "":
        return "—"
    return _naive_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def iso(value) -> str:
    """ISO 8601 to the second with ``Z`` (for ``<time datetime=…>``); empty for nothing."""
    if value is None or value == "":
        return ""
    return _naive_utc(value).isoformat(timespec="seconds") + "Z"


def ago(value) -> str:
    """How long ago a datetime or epoch was, e.g. ``5 min ago``; ``never`` for nothing."""
    if value is None or value == "":
        return "never"
    if isinstance(value, datetime):
        value = value.replace(tzinfo=timezone.utc).timestamp()
    return span(max(0, time.time() - float(value))) + " ago"


def span(seconds) -> str:
    """A duration in its largest useful units: ``42 s``, ``5 min``, ``2 h 05 min``, ``3 d 4 h``."""
    seconds = int(seconds or 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def size(n) -> str:
    """A byte count in B, KB, MB or GB (binary multiples)."""
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


FILTERS = {"utc": utc, "iso": iso, "ago": ago, "span": span, "size": size}


def init_app(app: Flask) -> None:
    for name, fn in FILTERS.items():
        app.add_template_filter(fn, name)
