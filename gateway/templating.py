"""The app-wide Jinja filters (every blueprint's templates use them); ``init_app`` registers them.

In a request they speak the page's language (``gateway.i18n``) and show moments in the
gateway's time zone (the ``timezone`` setting); outside one (the command line, a filter
called on its own) in English and UTC.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from babel.dates import format_datetime
from babel.numbers import format_decimal
from flask import Flask, has_request_context
from flask_babel import get_locale, get_timezone, gettext as _

from . import end_reasons, events

#: How a moment is written, per language: day before month in Italian, 24-hour clocks.
MOMENT_PATTERNS = {"en": "d MMM yyyy, HH:mm", "it": "dd/MM/yyyy HH:mm"}


def _naive_utc(value):
    """An epoch number as a naive UTC datetime; a datetime as it is."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None)
    return value


def _locale() -> str:
    return str(get_locale()) if has_request_context() else "en"


def when(value) -> str:
    """A moment for people: ``1 Mar 2026, 15:05`` / ``01/03/2026 15:05`` in the gateway's
    time zone; ``2026-03-01 14:05 UTC`` outside a request; a dash for nothing."""
    if value is None or value == "":
        return "—"
    moment = _naive_utc(value)
    if not has_request_context():
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    locale = _locale()
    aware = moment.replace(tzinfo=timezone.utc)
    return format_datetime(aware, MOMENT_PATTERNS.get(locale, MOMENT_PATTERNS["en"]),
                           tzinfo=get_timezone(), locale=locale)


def iso(value) -> str:
    """ISO 8601 to the second with ``Z`` (for ``<time datetime=…>``); empty for nothing."""
    if value is None or value == "":
        return ""
    return _naive_utc(value).isoformat(timespec="seconds") + "Z"


def ago(value) -> str:
    """How long ago a datetime or epoch was, e.g. ``5 min ago``; ``never`` for nothing."""
    if value is None or value == "":
        return _("never")
    if isinstance(value, datetime):
        value = value.replace(tzinfo=timezone.utc).timestamp()
    return _("%(span)s ago", span=span(max(0, time.time() - float(value))))


def span(seconds) -> str:
    """A duration in its largest useful units: ``42 s``, ``5 min``, ``2 h 05 min``, ``3 d 4 h``."""
    seconds = int(seconds or 0)
    if seconds < 60:
        return _("%(s)s s", s=seconds)
    if seconds < 3600:
        return _("%(min)s min", min=seconds // 60)
    if seconds < 86400:
        return _("%(h)s h %(min)s min", h=seconds // 3600, min="%02d" % (seconds % 3600 // 60))
    return _("%(d)s d %(h)s h", d=seconds // 86400, h=seconds % 86400 // 3600)


def size(n) -> str:
    """A byte count in B, KB, MB or GB (binary multiples), decimals as the language writes them."""
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            break
        n /= 1024
    number = format_decimal(n, "0" if unit == "B" else "0.0", locale=_locale())
    return f"{number} {unit}"


def number(n) -> str:
    """A count with the language's thousands separator: ``12,500`` / ``12.500``."""
    return format_decimal(n or 0, locale=_locale())


FILTERS = {"when": when, "iso": iso, "ago": ago, "span": span, "size": size, "number": number,
           "event": events.words, "end_reason": end_reasons.shown,
           "actor": events.who, "told": lambda e: events.sentence(e.action, e.actor, e.target),
           # The filter's old name: templates written before issue 13 (and other branches) use it.
           "utc": when}


def field_marks(field, id: str) -> dict:
    """The attributes of a form input whose value was refused: it says so, and points at why
    (the ``problems`` macro of ``fields.html`` writes the why under it, as ``<id>-error``)."""
    return {"aria-invalid": "true", "aria-describedby": f"{id}-error"} if field.errors else {}


def init_app(app: Flask) -> None:
    for name, fn in FILTERS.items():
        app.add_template_filter(fn, name)
    app.add_template_global(field_marks, "field_marks")
