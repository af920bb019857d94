"""A PostgreSQL for the tests: the machine's, or one of our own in a temporary folder.

``server_url()`` answers the base URL (``postgresql+psycopg2://user@host:port``)
of a server that accepts connections: ``PONTE_TEST_POSTGRES`` or the
machine's on 127.0.0.1:5432 if one answers, else a fresh cluster started
here (``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin``, trust
auth, loopback only, a free port). initdb refuses to run as root, so as
root the cluster belongs to the ``postgres`` user and its commands run
through ``runuser``. Tests create a database of their own on it and drop it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import free_port, wait_for

MACHINE = "postgresql+psycopg2://postgres@127.0.0.1:5432"
SUPERUSER = "postgres"


def answers(base_url: str, timeout: float = 3.0) -> bool:
    import sqlalchemy

    engine = sqlalchemy.create_engine(f"{base_url}/postgres", connect_args={"connect_timeout": int(timeout)})
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        return True
    except sqlalchemy.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def binaries() -> Path | None:
    """The newest PostgreSQL server's bin folder (Debian's layout), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


@dataclass
class PostgresServer:
    """A throwaway cluster on 127.0.0.1:``port`` in ``dir``."""

    dir: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}"

    @classmethod
    def start(cls, bindir: Path | None = None) -> PostgresServer:
        bindir = bindir or binaries()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server installed (Debian: postgresql)")
        # Not under pytest's tmp folders: those are 0700 root, and the server runs as postgres.
        folder = Path(tempfile.mkdtemp(prefix="ponte-pg-"))
        server = cls(folder, free_port(), bindir)
        data = folder / "data"
        if os.geteuid() == 0:
            shutil.chown(folder, SUPERUSER, SUPERUSER)
        server._run("initdb", "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
        server._run("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "30", "start",
                    "-o", f"-c listen_addresses=127.0.0.1 -c port={server.port} -c unix_socket_directories={folder}"
                          " -c fsync=off -c max_connections=200")
        wait_for(lambda: answers(server.url), timeout=20, interval=0.2, what="own PostgreSQL")
        return server

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", SUPERUSER, "--", *argv]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=self.dir)
        if res.returncode != 0:
            raise RuntimeError(f"{tool} failed: {res.stdout}{res.stderr}")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
