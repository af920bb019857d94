"""The three paths under test, each able to open an RFB connection for the client.

* ``RawPath``         (a) client ↔ target over plain TCP;
* ``WebsockifyPath``  (b) WebSocket client ↔ ``websockify`` 0.13 ↔ target;
* ``PontePath``       (c) WebSocket client ↔ gateway ↔ agent ↔ target, opened
  the way a browser does it: log in, POST a session (ticket), open
  ``/ws/view`` with the cookie, the Origin and the ticket as a subprotocol.

Ponte's API allows 30 session opens per minute per client address and 10
logins per minute (Flask-Limiter, by remote address). The bench plays many
viewers rather than lifting those limits: each ``Viewer`` has its own user,
its own loopback source address (127.0.0.0/8 is all local on Linux), logs
in once, and is retired after ``OPENS_PER_VIEWER`` sessions.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .client import Conn, rfb_handshake, tcp_connect, update_request, ws_connect
from tests.support import free_port, wait_for

from .procs import PYTHON, ROOT, Procs

OPENS_PER_VIEWER = 25
PASSWORD = "bench-password-1"
WEBSOCKIFY = str(Path(PYTHON).parent / "websockify")


def start_target(procs: Procs) -> int:
    port = free_port()
    procs.spawn("rfbtarget", [PYTHON, "-m", "bench.rfbtarget", "--port", str(port)])
    log = procs.logdir / "rfbtarget.log"
    wait_for(lambda: log.exists() and b"listening" in log.read_bytes(), timeout=15, what="rfbtarget")
    return port


class RawPath:
    name = "raw"

    def __init__(self, target_port: int):
        self.target_port = target_port

    def _connect(self) -> Conn:
        return Conn(tcp_connect("127.0.0.1", self.target_port), False)

    def open(self) -> Conn:
        conn = self._connect()
        rfb_handshake(conn)
        return conn

    def open_first_byte(self, w: int, h: int) -> float:
        """Seconds from connect to the first FramebufferUpdate byte."""
        t0 = time.perf_counter()
        conn = self._connect()
        try:
            rfb_handshake(conn)
            conn.send(update_request(w, h))
            conn.recv_exact(1, time.monotonic() + 15)
            return time.perf_counter() - t0
        finally:
            conn.close()

    def relay_pids(self) -> dict:
        return {}


class WebsockifyPath(RawPath):
    name = "websockify"

    def __init__(self, procs: Procs, target_port: int):
        super().__init__(target_port)
        self.port = free_port()
        self.proc = procs.spawn("websockify", [WEBSOCKIFY, f"127.0.0.1:{self.port}", f"127.0.0.1:{target_port}"])
        wait_for(self._ready, timeout=15, what="websockify listening")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError("websockify exited early")
        try:
            self.open().close()
            return True
        except OSError:
            return False

    def _connect(self) -> Conn:
        return ws_connect("127.0.0.1", self.port, "/")

    def relay_pids(self) -> dict:
        return {"websockify": self.proc.pid}


class Viewer:
    """One person at one address: a login cookie and a budget of session opens."""

    def __init__(self, base_url: str, user: str, password: str, source: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.origin = f"http://{parts.netloc}"
        self.user, self.password, self.source = user, password, source
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.opens = 0

    def _request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30, source_address=(self.source, 0))
        try:
            hdrs = {"User-Agent": "ponte-bench", "Connection": "close"}
            if self.cookies:
                hdrs["Cookie"] = self.cookie_header()
            hdrs.update(headers or {})
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            for header in resp.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return resp.status, data
        finally:
            conn.close()

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def login(self) -> None:
        _status, page = self._request("GET", "/login")
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page) or \
            re.search(rb'value="([^"]+)"[^>]*name="csrf_token"', page)
        form = urlencode({"csrf_token": token.group(1).decode(), "name": self.user, "password": self.password})
        status, _ = self._request("POST", "/login", form.encode(),
                                  {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise RuntimeError(f"login as {self.user} from {self.source} answered {status}")
        _status, page = self._request("GET", "/")
        self.csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()

    def open_session(self, machine: str) -> dict:
        status, data = self._request("POST", f"/api/v1/machines/{machine}/sessions", b"{}",
                                     {"Content-Type": "application/json", "X-CSRFToken": self.csrf})
        if status != 201:
            raise RuntimeError(f"session for {machine} refused: {status} {data[:200]!r}")
        return json.loads(data)

    def open_ws(self, issued: dict) -> Conn:
        return ws_connect(self.host, self.port, "/ws/view", source=self.source,
                          headers={"Cookie": self.cookie_header(), "Origin": self.origin, "User-Agent": "ponte-bench",
                                   "Sec-WebSocket-Protocol": f"binary, ponte.ticket.{issued['ticket']}"})


@dataclass
class Agent:
    name: str
    machine_id: int
    proc: subprocess.Popen


class PontePath:
    """Redis, a provisioned gateway and ``agents`` agents, all serving the target."""

    name = "ponte"

    def __init__(self, procs: Procs, workdir: Path, target_port: int, *, agents: int = 1, users: int = 4,
                 idle: int = 0, env: dict | None = None):
        from tests.support import Gateway, RedisServer

        self.procs = procs
        self.workdir = workdir
        self.redis = RedisServer.start(workdir / "redis")
        procs.adopt(self.redis.proc, "redis")
        self.gateway = Gateway(workdir / "gateway", free_port(), self.redis.url,
                               extra_env={"PONTE_REDIS_PREFIX": "bench:", **(env or {})})
        self.base_url = self.gateway.url
        env = self.gateway.env
        self.gateway.instance.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            [PYTHON, "-m", "bench.provision", "--users", str(users), "--password", PASSWORD,
             "--machines", str(agents), "--credential-dir", str(workdir / "credentials"),
             "--gateway-url", self.base_url, "--idle", str(idle), "--idle-file", str(workdir / "idle.txt")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"provisioning failed: {out.stderr[-2000:]}")
        self.provisioned = json.loads(out.stdout.strip().splitlines()[-1])
        self.idle_file = workdir / "idle.txt"
        self.gateway.start()
        procs.adopt(self.gateway.proc, "gateway")
        self.agents: list[Agent] = []
        for machine in self.provisioned["machines"]:
            agent_env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
            agent_env.update({"PYTHONPATH": str(ROOT), "PONTE_LOG_LEVEL": "WARNING"})
            proc = procs.spawn(f"agent-{machine['name']}", [
                PYTHON, "-m", "agents", "run", "--credential-file", machine["credential_file"], "--insecure-dev",
                "--vnc-host", "127.0.0.1", "--vnc-port", str(target_port)], env=agent_env)
            self.agents.append(Agent(machine["name"], machine["id"], proc))
        import redis as redis_lib

        client = redis_lib.Redis.from_url(self.redis.url)
        for agent in self.agents:
            wait_for(lambda: client.exists(f"bench:agent:{agent.machine_id}"), timeout=30, interval=0.1,
                     what=f"{agent.name} online")
        client.close()
        self._users = itertools.cycle(self.provisioned["users"])
        self._sources = (f"127.0.{b}.{c}" for b in range(1, 255) for c in range(2, 255))
        self._viewer: Viewer | None = None
        self._lock = threading.Lock()
        self._machines = itertools.cycle([a.name for a in self.agents])

    @property
    def gateway_pid(self) -> int:
        return self.gateway.proc.pid

    def viewer(self) -> Viewer:
        """A logged-in viewer with budget left for one more session."""
        with self._lock:
            if self._viewer is None or self._viewer.opens >= OPENS_PER_VIEWER:
                viewer = Viewer(self.base_url, next(self._users), PASSWORD, next(self._sources))
                viewer.login()
                self._viewer = viewer
            self._viewer.opens += 1
            return self._viewer

    def retire_viewer(self) -> None:
        """The next session is opened by a new viewer, who logs in first."""
        with self._lock:
            self._viewer = None

    def _issue(self) -> tuple[Viewer, dict]:
        viewer = self.viewer()
        with self._lock:
            machine = next(self._machines)
        return viewer, viewer.open_session(machine)

    def open(self) -> Conn:
        viewer, issued = self._issue()
        conn = viewer.open_ws(issued)
        rfb_handshake(conn)
        return conn

    def open_first_byte(self, w: int, h: int) -> float:
        """Seconds from the ticket in hand to the first FramebufferUpdate byte."""
        viewer, issued = self._issue()
        t0 = time.perf_counter()
        conn = viewer.open_ws(issued)
        try:
            rfb_handshake(conn)
            conn.send(update_request(w, h))
            conn.recv_exact(1, time.monotonic() + 15)
            return time.perf_counter() - t0
        finally:
            conn.close()

    def relay_pids(self) -> dict:
        pids = {"gateway": self.gateway.proc.pid}
        for agent in self.agents:
            pids[f"agent:{agent.name}"] = agent.proc.pid
        return pids


def stop_ponte(procs: Procs, ponte: PontePath) -> None:
    for agent in ponte.agents:
        procs.stop(agent.proc)
    procs.stop(ponte.gateway.proc)
    procs.stop(ponte.redis.proc)
