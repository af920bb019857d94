"""Session ends that SQL has not taken yet, kept on this node's disk until it does.

DESIGN.md §3: a session's end is recorded in SQL whatever failed. When the
end write fails (the database is down or refuses), the record is appended
to ``session-journal.jsonl`` in the instance folder — one JSON object a
line, fsynced, mode 0600 — and ``Journal.retry_forever`` writes it with
backoff until SQL takes it, then drops it from the file. A node that stops
with entries left replays them when it starts again; if it never does, the
survivors close its rows anyway (``reaper``).

Writing an entry is idempotent (``sessions.record_end``: it closes the row
only if it is still open, or creates it closed if the start never reached
SQL), so a replay after a crash, or a reaper racing, changes nothing.

Several processes may share an instance folder (one node per core): every
file operation holds an exclusive ``flock`` on ``session-journal.lock``,
and the file is rewritten by atomic rename. File I/O runs in gevent's
threadpool under the gateway, never on its loop.

Exceptions: none of its own; a journal that cannot be written is logged
(the record then waits in memory for the next retry).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .loop import off_loop

log = logging.getLogger(__name__)

JOURNAL_NAME = "session-journal.jsonl"
LOCK_NAME = "session-journal.lock"
RETRY_MIN = 0.5
RETRY_MAX = 30.0


@dataclass(frozen=True)
class EndRecord:
    """Everything needed to close a session's row — or to create it closed."""

    session: str
    ended_at: float  # epoch seconds
    to_viewer: int
    from_viewer: int
    reason: str
    ended_by: str = ""
    machine_id: int | None = None
    machine_name: str = ""
    user_id: int | None = None
    user_name: str = ""
    client_ip: str = ""
    node: str = ""
    started_at: float | None = None
    #: How the session felt (``quality.SessionQuality``'s fields; ``None``: not measured).
    rtt_viewer_ms: int | None = None
    rtt_agent_ms: int | None = None
    fps: float | None = None
    encoding: str = ""
    kbps_to_viewer_mean: int | None = None
    kbps_to_viewer_peak: int | None = None
    kbps_from_viewer_mean: int | None = None
    kbps_from_viewer_peak: int | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> EndRecord | None:
        try:
            data = json.loads(line)
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in names})
        except (ValueError, TypeError):
            return None


class Journal:
    """The append-only file of unwritten session ends (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL_NAME
        self._lock_path = self.folder / LOCK_NAME
        self._mutex = threading.Lock()  # one rewrite at a time in this process

    # -- file operations (each under the flock) --

    @contextmanager
    def _locked(self):
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    def append(self, record: EndRecord) -> bool:
        """Add ``record`` durably (fsync); False if the disk refused."""
        try:
            off_loop(self._append, record.to_json() + "\n")
            return True
        except OSError as exc:
            log.error("session %s: end record not journaled: %s", record.session, exc)
            return False

    def _append(self, line: str) -> None:
        with self._locked():
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def entries(self) -> list[EndRecord]:
        """What the file holds now (unreadable lines skipped)."""
        try:
            return off_loop(self._read)
        except OSError as exc:
            log.error("journal %s unreadable: %s", self.path, exc)
            return []

    def _read(self) -> list[EndRecord]:
        with self._locked():
            return self._read_unlocked()

    def _read_unlocked(self) -> list[EndRecord]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            record = EndRecord.from_json(line) if line.strip() else None
            if record is not None:
                out.append(record)
        return out

    def drop(self, sessions: set[str]) -> None:
        """Remove the entries of ``sessions`` (written to SQL meanwhile)."""
        if sessions:
            try:
                off_loop(self._drop, set(sessions))
            except OSError as exc:
                log.error("journal %s not compacted: %s", self.path, exc)

    def _drop(self, sessions: set[str]) -> None:
        with self._mutex, self._locked():
            keep = [r for r in self._read_unlocked() if r.session not in sessions]
            if not keep:
                self.path.unlink(missing_ok=True)
                return
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, "".join(r.to_json() + "\n" for r in keep).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dirfd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)

    # -- replay --

    def replay(self, write) -> int:
        """Try ``write(record)`` for every entry; drop those written. How many remain.

        ``write`` returns normally once SQL holds the end (whether this call
        or an earlier one closed the row) and raises if SQL did not take it.
        """
        done, left = set(), 0
        for record in self.entries():
            try:
                write(record)
            except Exception as exc:  # SQL still down: keep it for the next round
                log.info("journaled end of %s not written yet: %s", record.session, exc)
                left += 1
                continue
            done.add(record.session)
        self.drop(done)
        return left


def retry_forever(journal: Journal, write, wake) -> None:
    """Replay ``journal`` at start, whenever ``wake`` (an Event) is set, and with
    backoff while entries remain; runs in its own greenlet."""
    delay = RETRY_MIN
    while True:
        left = journal.replay(write)
        if left:
            log.warning("%d session end(s) wait in %s for SQL; next try in %.1f s", left, journal.path, delay)
            wake.wait(delay)
            delay = min(delay * 2, RETRY_MAX)
        else:
            delay = RETRY_MIN
            wake.wait()
        wake.clear()
