"""What an unauthenticated or hostile client reaches before any login or pairing (issue 9).

Against real gateway processes: secrets at rest (item 8), a hostile agent's
text in the log (item 7), junk credentials (item 9), back-to-back reconnects
(item 10), WebSocket handshakes and subprotocols (item 10), deadlines and
connection caps under a low descriptor limit (item 5).
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from tests.support import Gateway, free_port, wait_for

pytestmark = pytest.mark.slow


# -- item 8: secrets at rest ------------------------------------------------------------------------

def _open_to_others(folder: Path) -> list[str]:
    found = []
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(folder.parent)} {mode:04o}")
    return found


def test_instance_folder_and_files_are_private(tmp_path):
    """Embedded Redis and SQLite, a folder an older version left 0755 with a 0644 key."""
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    (instance / "secret_key").write_text("k" * 64)
    (instance / "secret_key").chmod(0o644)
    gw = Gateway(instance, free_port(), "").start()   # no REDIS_URL: the embedded redis-server
    try:
        gw.add_user("emp", "emppass12")                   # writes through SQLite (WAL) and Redis
        settings = json.loads((instance / "live.rdb.settings").read_text())
        import redis

        client = redis.Redis(unix_socket_path=settings["unixsocket"])
        client.save()                                     # the dump lands in the instance folder
        client.close()
        names = {p.name for p in instance.iterdir()}
        assert {"ponte.db", "ponte.db-wal", "ponte.db-shm", "secret_key", "live.rdb"} <= names, names
        assert _open_to_others(instance) == []
        socket_mode = stat.S_IMODE(os.stat(settings["unixsocket"]).st_mode)
        assert not socket_mode & 0o077, f"redis socket {socket_mode:04o}"
        assert "was open to other users (mode 0755)" in gw.log_tail(20000)
    finally:
        gw.stop()
