"""Where recordings are kept: a small interface, and the one backend there is (a folder).

The folder is ``recordings_path`` (default ``<instance>/recordings``); in a
cluster every node names the same shared folder (NFS, SMB, a cluster file
system), so any node plays any recording. Only this filesystem backend
exists and is tested; an object store would implement the same four
methods. All methods block: callers run them off the gevent loop (the
recorder's writer in gevent's threadpool, the player's reads likewise).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol

from .. import refs

SUFFIX = ".prec"


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...
    def writev(self, parts: list) -> None: ...
    def close(self) -> None: ...


class Storage(Protocol):
    def create(self, session: str) -> Sink: ...
    def open(self, session: str): ...
    def delete(self, session: str) -> bool: ...
    def older_than(self, seconds: float) -> list[str]: ...


class FileSink:
    """Append-only writes, flushed to the OS per call (a chunk: a node that dies loses
    at most the chunk being built)."""

    def __init__(self, path: Path):
        self._file = open(path, "wb", buffering=0)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._file.write(view)
            view = view[n:]

    def writev(self, parts: list) -> None:
        """Several pieces in one system call where the OS takes them (one GIL release, no join)."""
        fd = self._file.fileno()
        views = [memoryview(p) for p in parts if len(p)]
        while views:
            n = os.writev(fd, views[:1024])  # IOV_MAX
            while n and views:
                if n >= len(views[0]):
                    n -= len(views.pop(0))
                else:
                    views[0] = views[0][n:]
                    n = 0

    def close(self) -> None:
        self._file.close()


class FileReader:
    """``read_at(offset, n)`` on one recording (``format.scan`` and friends take it)."""

    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size

    def read_at(self, offset: int, n: int) -> bytes:
        return os.pread(self._fd, n, offset) if n > 0 else b""

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FolderStorage:
    """One file per session, ``<session id>.prec``, in ``root``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, session: str) -> Path:
        if refs.session_id(session) is None:  # never a path from outside into the file name
            raise ValueError("not a session id")
        return self.root / f"{session}{SUFFIX}"

    def create(self, session: str) -> FileSink:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileSink(self.path(session))

    def open(self, session: str) -> FileReader:
        """Raises ``FileNotFoundError`` when there is no such recording (never made, or deleted)."""
        return FileReader(self.path(session))

    def exists(self, session: str) -> bool:
        return self.path(session).is_file()

    def delete(self, session: str) -> bool:
        try:
            self.path(session).unlink()
            return True
        except FileNotFoundError:
            return False

    def older_than(self, seconds: float) -> list[str]:
        """Sessions whose recording was last written more than ``seconds`` ago."""
        cutoff = time.time() - seconds
        found = []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        for entry in entries:
            name = entry.name
            if name.endswith(SUFFIX) and refs.session_id(name[:-len(SUFFIX)]) is not None:
                try:
                    if entry.stat().st_mtime < cutoff:
                        found.append(name[:-len(SUFFIX)])
                except FileNotFoundError:
                    pass
        return sorted(found)
