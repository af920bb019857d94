"""``serve --workers N``: N gateway nodes on one port, one gevent process each (issue 16).

A node is one process and so one core. With ``--workers N`` the command
becomes a small supervisor: it starts N ``serve --worker I`` processes, one
after the other (the first brings the database schema up to date alone),
each a full node of the cluster with its own node id, and relays their
output. Every worker listens on the public port with ``SO_REUSEPORT`` (the
kernel spreads new connections among them) and on a private port of its
own, which it announces as its ``node_address``: another node's stream for
one of its viewers must reach *that* worker, not whichever the kernel picks.
A stream that lands on a sibling worker of the same machine is not relayed
to it but handed over, socket and all (``siblings``).
Everything across workers then works as across machines (DESIGN.md §6),
through the shared Redis — so workers need a real Redis, not the embedded one.

Signals: the first SIGTERM/SIGINT is passed on (each worker drains), a
second one too (each exits at once, journaling); the supervisor exits when
they have. A worker that dies on its own is started again after a second;
the survivors' reaper closes its sessions meanwhile.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import gevent
import gevent.event

log = logging.getLogger("gateway.workers")
RESTART_DELAY = 1.0
READY_TIMEOUT = 60.0


def count(value: str | int | None, *, embedded_redis: bool = False) -> int:
    """``--workers``: a number, or ``auto`` for one per core — one with the embedded Redis,
    which belongs to a single process (a number above 1 there is refused by ``config``)."""
    if value in (None, "", "auto", 0, "0"):
        return 1 if embedded_redis else (os.cpu_count() or 1)
    n = int(value)
    if n < 1:
        raise ValueError("workers must be at least 1, or auto")
    return n


def reuse_port_listener(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening socket that other processes of this user may bind to the same port too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


class Supervisor:
    """Start, watch and stop the worker processes of one ``serve --workers N``."""

    def __init__(self, n: int, argv: list[str], *, drain_timeout: float = 10.0, announce=print):
        self.n = n
        self.drain_timeout = drain_timeout
        self.argv = argv          # the worker's command line without ``--worker I``
        self.announce = announce  # called once every worker is listening
        self.procs: list[subprocess.Popen | None] = [None] * n
        #: Where the workers' hand-over sockets live (``siblings``): private to this user.
        self.handoff = ""
        self.stopping = 0
        self.done = gevent.event.Event()

    def run(self) -> int:
        with tempfile.TemporaryDirectory(prefix="ponte-workers-") as folder:  # mode 0700
            self.handoff = folder
            return self._run()

    def _run(self) -> int:
        gevent.signal_handler(signal.SIGTERM, self._on_signal)
        gevent.signal_handler(signal.SIGINT, self._on_signal)
        address = None
        for i in range(self.n):
            address = self._start(i, wait=True)
            if address is None:
                self._stop_all(signal.SIGTERM)
                return 1
        self.announce(address, self.n)
        watchers = [gevent.spawn(self._watch, i) for i in range(self.n)]
        self.done.wait()
        gevent.joinall(watchers, timeout=self.drain_timeout + 20)
        codes = [p.returncode for p in self.procs if p is not None]
        return max((c for c in codes if c is not None), default=0)

    def _start(self, i: int, *, wait: bool):
        proc = subprocess.Popen([*self.argv, "--worker", str(i), "--handoff", self.handoff], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.procs[i] = proc
        ready = gevent.event.AsyncResult()
        gevent.spawn(self._relay, i, proc, ready)
        if not wait:
            return None
        try:
            return ready.get(timeout=READY_TIMEOUT)
        except gevent.Timeout:
            log.error("worker %d did not start within %.0f s", i, READY_TIMEOUT)
            return None

    def _relay(self, i: int, proc: subprocess.Popen, ready: gevent.event.AsyncResult) -> None:
        """Pass a worker's output on (one log); note when it is listening."""
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            if line.startswith("worker listening on ") and not ready.ready():
                where = urlsplit(line.split()[3])
                ready.set((where.hostname, where.port))
                continue
            sys.stdout.write(line)
            sys.stdout.flush()
        if not ready.ready():
            ready.set(None)

    def _watch(self, i: int) -> None:
        while True:
            proc = self.procs[i]
            code = proc.wait()
            if self.stopping:
                if all(p is None or p.poll() is not None for p in self.procs):
                    self.done.set()
                return
            log.warning("worker %d exited with %s; starting it again in %.0f s", i, code, RESTART_DELAY)
            gevent.sleep(RESTART_DELAY)
            if self.stopping:
                return
            self._start(i, wait=False)

    def _on_signal(self) -> None:
        self.stopping += 1
        self._stop_all(signal.SIGTERM)  # the first drains, the second forces: the workers count
        if all(p is None or p.poll() is not None for p in self.procs):
            self.done.set()

    def _stop_all(self, sig: int) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                try:
                    proc.send_signal(sig)
                except ProcessLookupError:
                    pass


def worker_command(config_path: str | None, host: str | None, port: int | None) -> list[str]:
    argv = [sys.executable, "-m", "gateway"]
    if config_path:
        argv += ["--config", config_path]
    argv.append("serve")
    if host:
        argv += ["--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    return argv


def supervise(n: int, config_path: str | None, host: str | None, port: int | None, *,
              drain_timeout: float) -> int:
    started = time.monotonic()

    def announce(address, workers):
        print(f"listening on http://{address[0]}:{address[1]} ({workers} workers, "
              f"started in {time.monotonic() - started:.1f} s)", flush=True)

    return Supervisor(n, worker_command(config_path, host, port), drain_timeout=drain_timeout,
                      announce=announce).run()
