"""The instance folder holds secrets: it is 0700 and everything in it 0600.

It keeps the session-signing key, the SQLite database (argon2 hashes, token
hashes) with its ``-wal``/``-shm`` files and the embedded Redis dump. Files
are made private by the umask (``UMASK``) in force when they are created:
SQLite gives its ``-wal``/``-shm`` the mode of the database file, and the
embedded redis-server inherits the umask of the process that starts it.
Whatever an older version or a careless copy left readable to others is
fixed at start, with a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

#: New files 0600, new folders 0700.
UMASK = 0o077


@contextlib.contextmanager
def private_files():
    """Create files under ``UMASK`` inside the block, then restore the caller's umask.

    ``create_app`` is also a library call (tests, the CLI); ``serve`` sets the
    umask for the life of the process instead.
    """
    previous = os.umask(UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def secure(path: str | os.PathLike) -> Path:
    """Create ``path`` 0700 if missing; take group/other access off it and everything in it."""
    folder = Path(path)
    with private_files():
        folder.mkdir(parents=True, exist_ok=True)
    _restrict(folder)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            _restrict(Path(root) / name)
    return folder


def _restrict(path: Path) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:  # gone meanwhile (a SQLite -shm, a Redis temp dump)
        return
    if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
        return
    mode = stat.S_IMODE(info.st_mode)
    try:
        path.chmod(mode & 0o700)
    except OSError as exc:
        log.warning("%s is readable by others (mode %04o) and cannot be fixed: %s", path, mode, exc)
        return
    log.warning("%s was open to other users (mode %04o); now %04o", path, mode, mode & 0o700)
