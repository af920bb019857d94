"""``python -m gateway COMMAND…`` for tests, without paying the gateway's imports every time.

``Gateway.cli`` ran a fresh interpreter per admin command: ~3 CPU-s each, most of it importing
Flask, SQLAlchemy, alembic, webauthn, argon2… before the command did anything, and tests that
wait for a PC to come online run ``machine list`` every 0.3 s. This server imports
``gateway.cli`` once, then forks one child per command. The child is a copy of a process that
has done nothing but import: it takes the command's environment, working folder and standard
streams, runs the same click ``main`` that ``python -m gateway`` runs, and exits. So each
command still builds its own app, database engine and Redis client, and no state passes from
one command to the next except modules already imported.

Running the commands inside pytest's own process was tried and backed out: CPython 3.11.7
raised ``SystemError: AST constructor recursion depth mismatch`` in create_app under threads
(gh-106905). A forked child has one thread, the one that forked.

``serve`` is never run here: it must monkey-patch with gevent before anything is imported
(gateway/__main__.py), so ``Gateway`` starts it as its own interpreter.

Protocol, on a Unix socket: the client sends one JSON request ({args, env, cwd, input,
timeout}) and shuts its writing side; the child answers with one JSON reply ({code, stdout,
stderr}) and closes. The server exits when its standard input reaches end of file, that is
when the test process that started it has gone.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

PROG_NAME = "python -m gateway"


def _read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _run_command(request: dict) -> dict:
    """In the forked child: run one command with the request's environment and streams."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin.write((request["input"] or "").encode())
        stdin.seek(0)
        for stream, fd in ((stdin, 0), (out, 1), (err, 2)):
            os.dup2(stream.fileno(), fd)
        code = _main(request["args"])
        try:  # what the interpreter does at exit (logging.shutdown among them)
            atexit._run_exitfuncs()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        out.seek(0)
        err.seek(0)
        return {"code": code, "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def _main(args: list[str]) -> int:
    from gateway.cli import main

    try:
        main.main(args=args, prog_name=PROG_NAME)
    except SystemExit as exc:   # click's standalone mode always ends with one
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:   # as the interpreter would: the traceback on stderr, status 1
        traceback.print_exc()
        return 1
    return 0


def _child(conn: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # the command's own subprocesses are waited for
    try:
        request = json.loads(_read_all(conn))
        signal.alarm(int(request["timeout"]) + 1)   # a hung command dies as subprocess.run's timeout would
        reply = _run_command(request)
        conn.sendall(json.dumps(reply).encode())
    except BaseException:
        traceback.print_exc()   # on the server's stderr: the test process's own
    finally:
        os._exit(0)


#: What every command would otherwise import again: the CLI, and what create_app imports
#: lazily (gateway/app.py). A module missing here is only imported in each child, slower.
PRELOAD = ("gateway.cli", "gateway.app", "gateway.account", "gateway.admin", "gateway.agent_download",
           "gateway.api", "gateway.auth", "gateway.metrics", "gateway.portal", "gateway.ws",
           "gateway.factors.admin_views", "gateway.factors.api_views", "gateway.factors.login",
           "gateway.factors.reauth", "gateway.factors.views", "gateway.signin.admin_views",
           "gateway.signin.oidc", "gateway.signin.views", "gateway.provider", "gateway.share_views",
           "gateway.signup.provider_views", "gateway.signup.views", "flask_migrate")


def serve(path: str) -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    gc.freeze()   # the children's collections never walk (and so never copy) what the imports made

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # children reaped by the kernel
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sys.stdin:
                if not os.read(sys.stdin.fileno(), 4096):   # the test process went away
                    shutil.rmtree(os.path.dirname(path), ignore_errors=True)
                    return
                continue
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                _child(conn)
            conn.close()


class CommandServer:
    """The client side: one server per test process, started on first use."""

    _lock = threading.Lock()
    _instance: CommandServer | None = None

    def __init__(self, python: str, root: Path):
        self.dir = tempfile.mkdtemp(prefix="ponte-cliforks-")
        self.path = os.path.join(self.dir, "socket")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
        env["PYTHONPATH"] = str(root)
        self.proc = subprocess.Popen([python, "-m", "tests.support.cliforks", self.path], cwd=root, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.proc.kill()
            raise RuntimeError(f"gateway command server did not start ({self.proc.wait()})")
        atexit.register(self.stop)

    @classmethod
    def shared(cls, python: str, root: Path) -> CommandServer:
        with cls._lock:
            if cls._instance is None or cls._instance.proc.poll() is not None:
                cls._instance = cls(python, root)
            return cls._instance

    def run(self, args: list[str], *, env: dict, cwd: Path, input: str | None,
            timeout: float) -> subprocess.CompletedProcess:
        if "serve" in args:   # it must monkey-patch before importing (gateway/__main__.py)
            raise ValueError("serve runs as its own interpreter (Gateway.start), not here")
        request = {"args": list(args), "env": env, "cwd": str(cwd), "input": input, "timeout": timeout}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout + 5)
            conn.connect(self.path)
            conn.sendall(json.dumps(request).encode())
            conn.shutdown(socket.SHUT_WR)
            try:
                raw = _read_all(conn)
            except socket.timeout as exc:
                raise subprocess.TimeoutExpired([PROG_NAME, *args], timeout) from exc
        if not raw:   # the child died before answering: its alarm (the timeout), or a crash
            raise RuntimeError(f"{PROG_NAME} {' '.join(args)} died without an answer (timeout {timeout}s?)")
        reply = json.loads(raw)
        return subprocess.CompletedProcess([PROG_NAME, *args], reply["code"], reply["stdout"], reply["stderr"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()   # the server's cue to exit
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        atexit.unregister(self.stop)
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1])
