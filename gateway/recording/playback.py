"""What the player page reads: a recording's summary, and its records uncompressed.

Both read the shared folder through ``storage`` in gevent's threadpool
(file reads and zlib off the loop), so any node serves any recording.
"""

from __future__ import annotations

from . import format
from .recorder import offload


def _summary(storage, session: str) -> dict:
    with storage.open(session) as reader:
        parsed = format.scan(reader.read_at)
        return {
            "session": session,
            "meta": parsed.meta,
            "duration_ms": format.duration_ms(parsed),
            "complete": parsed.ending is not None,
            "stopped": (parsed.ending or {}).get("stopped", ""),
            "size": reader.size,
            "raw_size": sum(e.raw_len for e in parsed.index),
            # The index: the time span of each chunk (a seek bar's marks of activity).
            "chunks": [[e.first_ms, e.last_ms] for e in parsed.index],
            "idle": [list(gap) for gap in format.idle_periods(parsed.index)],
        }


def summary(storage, session: str) -> dict:
    """Raises ``FileNotFoundError`` (no such recording) or ``format.FormatError``."""
    return offload(_summary, storage, session)


def _chunks(storage, session: str):
    reader = storage.open(session)
    try:
        return reader, format.scan(reader.read_at).index
    except BaseException:
        reader.close()
        raise


def records_stream(storage, session: str):
    """The player's stream: every chunk's records uncompressed (``u32 ms, u8 direction,
    u32 length, bytes``, as inside a chunk), one chunk at a time. Opens the file now
    (``FileNotFoundError`` before any response is started)."""
    reader, index = offload(_chunks, storage, session)

    def generate():
        try:
            for entry in index:
                try:
                    yield offload(format.chunk_raw, reader.read_at, entry)
                except format.FormatError:
                    return  # a damaged chunk: the player gets what came before it
        finally:
            reader.close()

    return generate()
