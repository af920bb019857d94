"""Text from peers made safe to log, store and show: one pure function.

Strings an agent, a viewer or a login form sends end up in the gateway log,
the history, the audit table and the viewer's status line. A CR/LF there
forges whole log lines, an ESC rewrites a terminal, a bidi override makes
``gpj.exe`` read as ``exe.jpg``. ``clean`` removes them at the boundary so
that no later reader has to remember to.

Removed: C0 controls, DEL and C1 controls (Unicode category ``Cc``), the
line and paragraph separators U+2028/U+2029, and the bidi embeddings,
overrides and isolates U+202A–U+202E and U+2066–U+2069. Tabs and line breaks
become one space each, so words stay apart. Everything else (accents, CJK,
emoji with their joiners) is kept.
"""

from __future__ import annotations

import re

#: Whitespace controls: replaced by a space rather than deleted.
_SPACES = re.compile(r"[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]+")
#: Every other control (C0, DEL, C1) and the bidi formatting characters.
_DROP = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
ELLIPSIS = "…"


def clean(value: str, limit: int | None = None) -> str:
    """``value`` without control or bidi characters, at most ``limit`` characters long.

    A value cut at ``limit`` ends in ``…`` (inside the limit), so a reader can
    tell it was shortened.
    """
    value = _DROP.sub("", _SPACES.sub(" ", value))
    if limit is not None and len(value) > limit:
        value = value[:limit - 1] + ELLIPSIS if limit > 0 else ""
    return value
