"""WebSocket frames built by hand (RFC 6455 §5.2), independent of the codec under test."""

from __future__ import annotations

import os
import struct

from hypothesis import strategies as st


def frame(opcode: int, payload: bytes, fin: bool, key: bytes | None) -> bytes:
    """One frame; masked with ``key`` unless it is None."""
    n = len(payload)
    bit = 0x80 if key is not None else 0
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if key is None:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def fragmented(messages: list[bytes], data, *, first_cut: int = 0) -> bytes:
    """``messages`` as masked binary frames, each cut into fragments (§5.4) where ``data`` (hypothesis)
    draws, with pings between fragments, then a close 1000. ``first_cut`` 1 keeps every first
    fragment non-empty (websockify's reader takes an empty one for "no message started")."""
    wire = b""
    for message in messages:
        cuts = sorted(data.draw(st.lists(st.integers(first_cut, len(message)), max_size=3))) if message else []
        pieces = [message[a:b] for a, b in zip([0, *cuts], [*cuts, len(message)])]
        for i, piece in enumerate(pieces):
            if data.draw(st.booleans()):
                wire += frame(0x9, b"ping", True, os.urandom(4))  # control frames may interleave
            wire += frame(0x2 if i == 0 else 0x0, piece, i == len(pieces) - 1, os.urandom(4))
    return wire + frame(0x8, struct.pack(">H", 1000), True, os.urandom(4))
