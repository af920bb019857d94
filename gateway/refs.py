"""References to records, as they arrive in URLs, forms and credentials: parsed in one place.

A reference is untrusted text. ``str.isdigit`` accepts ``²`` and ``١`` (which
``int`` then rejects, or reads as another id), and 20 digits overflow a
64-bit column; a NUL byte in a name makes PostgreSQL refuse the query. Each
helper here answers ``None`` for anything that cannot name a record, so the
caller answers "not found" instead of a 500.
"""

from __future__ import annotations

import re

from werkzeug.routing import BaseConverter

#: A record id: ASCII digits, at most 18 of them (always below 2**63).
ID_PATTERN = "[0-9]{1,18}"
#: A session id as ``sessions.issue`` makes it (``uuid4().hex``).
SESSION_PATTERN = "[0-9a-f]{32}"
#: Longer than any name the gateway lets anyone create.
NAME_MAX = 255

_ID = re.compile(ID_PATTERN)
_SESSION = re.compile(SESSION_PATTERN)
_NOT_IN_NAMES = re.compile("[\x00-\x1f\x7f]")


def record_id(ref) -> int | None:
    """The numeric id ``ref`` spells, or ``None`` if it is not one."""
    ref = str(ref)
    return int(ref) if _ID.fullmatch(ref) else None


def session_id(ref) -> str | None:
    """``ref`` if it has the shape of a session id, else ``None``."""
    ref = str(ref)
    return ref if _SESSION.fullmatch(ref) else None


def name(ref) -> str | None:
    """``ref`` if it could be a user, machine or group name, else ``None``.

    Names never hold control characters (``ops.naming.check_name``): such a
    reference names nothing, and must not reach the database (PostgreSQL
    refuses NUL in a string).
    """
    ref = str(ref)
    return ref if 0 < len(ref) <= NAME_MAX and not _NOT_IN_NAMES.search(ref) else None


class IdConverter(BaseConverter):
    """``<int:…>`` in routes: ASCII digits within ``ID_PATTERN`` only (werkzeug's ``\\d+``
    takes any Unicode digit and any length), anything else is a 404."""

    regex = ID_PATTERN
    weight = 50

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))
