"""Write one session's recording beside the relay, never in its way.

The screen pump calls ``Recorder.tee`` with the payload pieces it has just
forwarded (``FramedWebSocket.pump(tee=…)``): the tee stamps the elapsed
milliseconds and copies the pieces straight into the chunk being built
(``format.ChunkBuilder``: one memcpy, no per-record objects), and hands a
chunk that is full (256 KiB) to the writer's queue — nothing else in the
relay's path. The writer greenlet takes the queue whole and has the chunks
compressed and written in gevent's threadpool (``format.Packer``: zlib and
the file writes release the GIL, and the thread holds it for little else),
so neither zlib nor a slow disk holds the loop.

Measured with ``scripts/recording_cost.py`` and ``python -m bench recording``
(figures in docs/recording-format.md): an earlier writer that built the
records in the thread, one ``zlib`` call and one write per chunk, fell behind
and stopped most recordings of a saturated stream, and added milliseconds to
the relay's p99 (the GIL handed back and forth per chunk).

A writer that falls behind first stores chunks without deflating (memory
speed); if the queue still passes ``max_queue`` bytes, or a write fails
(disk full, a shared folder gone), the *recording* stops with a reason; the
session goes on. ``on_stop(reason)`` tells the caller (the live record), and
the reason is in the file's end block and in the history
(``SessionRecord.recording``).
"""

from __future__ import annotations

import logging
import time
from collections import deque

import gevent
import gevent.event

from . import format

log = logging.getLogger(__name__)

#: Bytes waiting for the writer before recording gives up: ~10 s of a busy
#: full-screen video at 6 MB/s; an office session queues a few kilobytes.
DEFAULT_MAX_QUEUE = 64 * 1024 * 1024
#: Bytes waiting beyond which the writer stores chunks without deflating, to catch up.
HURRY_BYTES = 4 * 1024 * 1024
CLOSE_TIMEOUT = 10.0
#: Seconds between the writer's turns at the queue (chunks are sealed after CHUNK_MS), or sooner
#: once this many bytes wait.
WRITE_TICK = 0.25
WAKE_BYTES = 1024 * 1024
BEHIND = "Recording stopped: the disk could not keep up with the session"


def offload(fn, *args):
    """``fn(*args)`` in gevent's threadpool (a real thread: zlib and file writes release the GIL)."""
    return gevent.get_hub().threadpool.apply(fn, args)


class Recorder:
    """One session's recording; ``start`` it, give ``tee`` to the pump, ``close`` it at the end."""

    def __init__(self, storage, session: str, meta: dict, *, max_queue: int = DEFAULT_MAX_QUEUE,
                 on_stop=None, level: int = 1, run=offload):
        self.storage = storage
        self.session = session
        self.meta = meta
        self.max_queue = max_queue
        self.on_stop = on_stop
        self._run_blocking = run
        self._t0 = time.monotonic()
        self._builder = format.ChunkBuilder(level)
        #: Sealed chunks ``(first_ms, last_ms, raw)`` waiting for the writer, and their bytes.
        self._queue: deque = deque()
        self._queued = 0
        self._wake = gevent.event.Event()
        self._closing = False
        self._greenlet = None
        #: Why recording stopped before the session ended; None while it records (or recorded whole).
        self.stopped: str | None = None
        self.bytes_in = 0
        self.bytes_written = 0

    def start(self) -> "Recorder":
        self._greenlet = gevent.spawn(self._write_all)
        return self

    def _ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def tee(self, pieces) -> None:
        """The pump's tap: stamp, copy into the chunk. Runs in the pump's greenlet: must stay cheap."""
        if self.stopped is not None:
            return
        n = 0
        for piece in pieces:
            n += len(piece)
        builder = self._builder
        # The one copy: the pieces are views into the pump's reused buffer.
        builder.add_pieces(self._ms(), pieces, n)
        self.bytes_in += n
        if builder.raw_len >= format.CHUNK_BYTES:
            self._seal()

    def _seal(self) -> None:
        chunk = self._builder.take()
        self._queue.append(chunk)
        self._queued += len(chunk[2])
        if self._queued > self.max_queue:
            self._stop(BEHIND)
        elif self._queued >= WAKE_BYTES and not self._wake.is_set():
            # Else the writer takes the queue on its own tick (WRITE_TICK): a busy screen costs
            # the pump a copy per read, and a greenlet switch per WAKE_BYTES at most.
            self._wake.set()

    def _stop(self, reason: str) -> None:
        if self.stopped is not None:
            return
        self.stopped = reason
        self._queue.clear()
        self._queued = 0
        self._builder.take()
        self._wake.set()
        log.warning("session %s: %s", self.session, reason)
        if self.on_stop is not None:
            gevent.spawn(self._tell, reason)  # never a Redis call in the pump's greenlet

    def _tell(self, reason: str) -> None:
        try:
            self.on_stop(reason)
        except Exception as exc:  # advisory: the history gets the reason at the end anyway
            log.warning("session %s: recording stop not recorded live: %s", self.session, exc)

    def close(self) -> str | None:
        """Finish the file (the queue, the end block); the reason recording stopped early, or None."""
        self._closing = True
        self._wake.set()
        if self._greenlet is not None:
            self._greenlet.join(timeout=CLOSE_TIMEOUT)
            if not self._greenlet.dead:
                self._greenlet.kill(block=False)
                self.stopped = self.stopped or "Recording stopped: the disk did not finish writing in time"
        return self.stopped

    # -- the writer greenlet --

    def _write_all(self) -> None:
        run = self._run_blocking
        sink = None
        try:
            sink = run(self.storage.create, self.session)
            run(self._write, sink, format.header({**self.meta, "version": format.VERSION}))
            while True:
                self._wake.wait(timeout=WRITE_TICK)
                self._wake.clear()
                if self.stopped is not None:
                    break
                closing = self._closing
                if self._builder.due(self._ms()) or (closing and not self._builder.empty):
                    self._seal()  # a quiet screen's chunk: sealed after CHUNK_MS
                    if self.stopped is not None:
                        break
                # The queue changes hands whole: the loop does no per-chunk work here.
                batch, queued = self._queue, self._queued
                self._queue, self._queued = deque(), 0
                if batch:
                    run(self._pack_all, sink, batch, queued)
                if closing and not self._queue and self._builder.empty:
                    break
            run(self._write, sink, format.end(self._ms(), self.stopped or ""))
        except OSError as exc:
            self._stop(f"Recording stopped: {exc.strerror or exc}")
        except Exception as exc:  # a recording must never take its session down
            log.exception("session %s: recording failed", self.session)
            self._stop(f"Recording stopped: {type(exc).__name__}")
        finally:
            if sink is not None:
                try:
                    run(sink.close)
                except OSError:
                    pass

    # -- in the threadpool: compressing and writing --

    def _pack_all(self, sink, batch: deque, queued: int) -> None:
        # One writev for the batch: each GIL release costs this thread up to a switch interval
        # (5 ms) to get the GIL back from a busy loop, so the fewer the better.
        packer = self._builder.packer
        parts = []
        for first_ms, last_ms, raw in batch:
            parts += packer.pack(first_ms, last_ms, raw, hurry=queued > HURRY_BYTES)
            queued -= len(raw)
        sink.writev(parts)
        self.bytes_written += sum(len(p) for p in parts)
        del parts
        for _first, _last, raw in batch:
            self._builder.give_back(raw)  # written (copied into the sink): the next chunks reuse it

    def _write(self, sink, data: bytes) -> None:
        sink.write(data)
        self.bytes_written += len(data)
