"""One JSON object from a peer, bounded and checked: how every JSON message Ponte reads starts.

The control channel, the file stream and the gateway's node bus all carry
one JSON object per message; each decoder first asks ``load_object`` for
it, then checks its own fields. ``error`` is the decoder's exception class,
so each protocol keeps raising its own error (``ControlError`` ...).
"""

from __future__ import annotations

import json

__all__ = ["load_object"]


def load_object(message, *, limit: int, error: type[Exception], what: str, text: bool = False) -> dict:
    """The object in ``message`` (at most ``limit`` bytes), or ``error`` saying what was wrong.

    ``text``: a ``str`` is accepted too (a pub/sub client may hand one over).
    """
    if not isinstance(message, (bytes, bytearray, str) if text else (bytes, bytearray)):
        raise error(f"{what} is not bytes")
    if len(message) > limit:
        raise error(f"{what} larger than {limit} bytes")
    try:
        obj = json.loads(message)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: 16 KiB of "[" nests deeper than the parser allows.
        raise error(f"{what} is not JSON") from exc
    if not isinstance(obj, dict):
        raise error(f"{what} is not an object")
    return obj
