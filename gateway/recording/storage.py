"""Where recordings are kept: a small interface, and the one backend there is (a folder).

The folder is ``recordings_path`` (default ``<instance>/recordings``); in a
cluster every node names the same shared folder (NFS, SMB, a cluster file
system), so any node plays any recording. Only this filesystem backend
exists and is tested; an object store would implement the same four
methods. All methods block: callers run them off the gevent loop (the
recorder's writer in gevent's threadpool, the player's reads likewise).
"""

from __future__ import annotations

import errno
import fcntl
import mmap
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


#: Direct I/O writes whole blocks from aligned memory: 4 KiB covers every disk's logical block.
BLOCK = 4096
#: The staging buffer grows to fit a writer's batch, up to this (an office session's stays small).
MIN_STAGE = 64 * 1024
MAX_STAGE = 4 * 1024 * 1024


def _whole_blocks(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


class FileSink:
    """Append-only writes, straight to the disk where the file system allows it (``O_DIRECT``).

    Why direct: a recording is written once and read back rarely, and on the machine the bench
    runs on (ext4 on a virtio disk, two cores) buffered writes of a busy stream cost 1–2.8 s of
    kernel CPU per GB and were throttled to 130–250 MB/s once a couple of GB were dirty, while
    ``O_DIRECT`` wrote 1.2–1.6 GB/s at 0.06–0.2 s/GB (``dd``; docs/recording-format.md): that
    CPU came out of the relay's, and the throttling stopped recordings ("could not keep up").

    Direct I/O takes whole blocks from aligned memory, so the pieces are copied into a
    page-aligned staging buffer (a memcpy, in the writer's thread) and each call writes its
    bytes and the last partial block padded with zeros; the next call writes that block again,
    whole, and ``close`` cuts the padding off. A file cut short by a crash ends in at most one
    block of zeros, which a reader takes for the end (``format.scan``: no chunk tag there).
    Every call's bytes reach the OS before it returns (a node that dies loses at most the
    chunk being built). A file system that refuses ``O_DIRECT`` (``EINVAL``) gets the same
    writes through the page cache.
    """

    def __init__(self, path: Path):
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o666)
            self.direct = True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            self.direct = False
        self._stage: mmap.mmap | None = None
        self._at = 0  # the file offset of the staging buffer's first byte (block-aligned)
        self._fill = 0  # bytes staged; all but the last partial block are on disk already

    def write(self, data) -> None:
        self.writev([data])

    def writev(self, parts: list) -> None:
        """The pieces in order, with as few system calls (GIL releases) as the buffer allows."""
        added = sum(len(p) for p in parts)
        if not added:
            return
        total = self._fill + added
        self._reserve(_whole_blocks(max(MIN_STAGE, min(total, MAX_STAGE))))
        stage = self._stage
        for part in parts:
            with memoryview(part) as whole:
                view = whole.cast("B")
                while view:
                    n = min(len(stage) - self._fill, len(view))
                    stage[self._fill:self._fill + n] = view[:n]
                    self._fill += n
                    view = view[n:]
                    if self._fill == len(stage):
                        self._flush()
        if self._fill:  # bytes this call staged (a full buffer was flushed and emptied)
            self._flush()

    def _reserve(self, size: int) -> None:
        if self._stage is not None and len(self._stage) >= size:
            return
        stage = mmap.mmap(-1, size)  # anonymous: page-aligned, as O_DIRECT needs
        if self._stage is not None:
            stage[:self._fill] = self._stage[:self._fill]
            self._stage.close()
        self._stage = stage

    def _flush(self) -> None:
        """Write what is staged, padded to whole blocks; keep its last partial block for next time."""
        stage, fill = self._stage, self._fill
        end = _whole_blocks(fill)
        stage[fill:end] = bytes(end - fill)
        offset = self._at
        with memoryview(stage) as whole:
            rest = whole[:end]
            while rest:
                try:
                    n = os.pwrite(self._fd, rest, offset)
                except OSError as exc:
                    if exc.errno != errno.EINVAL or not self.direct:
                        raise
                    # Opened direct, refused on writing (a block size above BLOCK): buffered from here.
                    fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
                    self.direct = False
                    continue
                rest = rest[n:]
                offset += n
            del rest  # no view left on the buffer: it can be replaced or closed
        done = fill - fill % BLOCK  # final: the next write starts at the partial block
        if done:
            stage[:fill - done] = stage[done:fill]
        self._at += done
        self._fill = fill - done

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._at + self._fill)  # the last block's padding
        finally:
            os.close(self._fd)
            self._fd = None
            if self._stage is not None:
                self._stage.close()


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
