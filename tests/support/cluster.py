"""Two real gateway nodes behind a real nginx, one Redis, one PostgreSQL, real agents.

What an operator runs for the surge (issue 8): nodes ``node-a`` and
``node-b`` (``python -m gateway serve``, ``trusted_proxies = 1``) behind
nginx round robin; a Redis of the test's own (so it can be restarted); the
machine's PostgreSQL through a database of the test's own; agents (``python
-m agents run``) dialling nginx, several sharing one Xvnc; viewers through
nginx. Everything on loopback, stopped by ``stop()``.
"""

from __future__ import annotations

import itertools
import signal
import socket
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import AgentProcess, Gateway, RedisServer, VNCServer, WebClient, free_port, rfb_open, start_xvnc, wait_for
from .nginx import Nginx

PREFIX = "surge:"
SECRET = "c" * 48
EMPLOYEE = ("emp", "emppass12")
ADMIN = ("boss", "bosspass12")


# -- clients at addresses of their own ---------------------------------------------------------------
#
# Behind nginx with trusted_proxies = 1 a gateway sees each client's own
# address, and limits per address (session opens, enrolments) as it would in
# production. Test clients are many people: each connects from an address of
# its own in 127.0.0.0/8 (still loopback), bound where the client's socket is made.

_source = threading.local()
_real_create_connection = socket.create_connection
_addresses = (f"127.0.{b}.{c}" for b, c in itertools.product(range(1, 250), range(1, 255)))
_addresses_lock = threading.Lock()


def _create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kwargs):
    if source_address is None and getattr(_source, "address", None):
        source_address = (_source.address, 0)
    return _real_create_connection(address, timeout, source_address, **kwargs)


@contextmanager
def from_address(address: str):
    """Sockets this thread connects meanwhile leave from ``address``."""
    socket.create_connection = _create_connection
    old = getattr(_source, "address", None)
    _source.address = address
    try:
        yield
    finally:
        _source.address = old


def new_address() -> str:
    with _addresses_lock:
        return next(_addresses)


class Client(WebClient):
    """A logged-in person connecting from an address of their own."""

    def __init__(self, gateway_url: str, user: str, password: str, address: str | None = None):
        self.address = address or new_address()
        with from_address(self.address):
            super().__init__(gateway_url, user, password)

    def json(self, method: str, path: str, **kwargs) -> dict:
        with from_address(self.address):
            return super().json(method, path, **kwargs)

    def view_socket(self, ticket, **kwargs):
        with from_address(self.address):
            return super().view_socket(ticket, **kwargs)


def enroll_agent(agent: AgentProcess, code: str) -> None:
    """``agents enroll``'s own code, run here so that each PC enrols from its own address."""
    from agents.config import load_settings
    from agents.enroll import enroll

    agent.workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(overrides={"credential_file": str(agent.credential), "insecure_dev": True},
                             environ={})
    with from_address(new_address()):
        enroll(agent.gateway_url, code, settings)


@dataclass
class Cluster:
    base: Path
    database_url: str
    redis: RedisServer
    vnc: VNCServer
    nodes: dict[str, Gateway]
    nginx: Nginx
    agents: dict[str, AgentProcess] = field(default_factory=dict)
    machine_ids: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.nginx.url

    @classmethod
    def start(cls, base: Path, database_url: str, *, agents: int = 12, env: dict | None = None) -> Cluster:
        """Start everything; ``env`` adds ``PONTE_*`` settings to both nodes."""
        base.mkdir(parents=True, exist_ok=True)
        redis = RedisServer.start(base / "redis")
        vnc = start_xvnc(base / "xvnc", geometry="64x48")
        ports = {"node-a": free_port(), "node-b": free_port()}
        nginx_port = free_port()
        shared = {"PONTE_DATABASE_URL": database_url, "PONTE_SECRET_KEY": SECRET, "PONTE_REDIS_PREFIX": PREFIX,
                  "PONTE_TRUSTED_PROXIES": "1", "PONTE_PUBLIC_URL": f"http://127.0.0.1:{nginx_port}",
                  "PONTE_LOGIN_LIMIT": "10000 per minute", "PONTE_HTTP_TIMEOUT": "5", **(env or {})}
        nodes = {name: Gateway(base / name, port, redis.url, extra_env={"PONTE_NODE_ID": name, **shared})
                 for name, port in ports.items()}
        self = cls(base, database_url, redis, vnc, nodes, None)
        try:
            nodes["node-a"].start()  # the first creates the schema
            nodes["node-b"].start()
            self.nginx = Nginx.start(base / "nginx", list(ports.values()), port=nginx_port)
            a = nodes["node-a"]
            a.add_user(*ADMIN, admin=True)
            a.add_user(*EMPLOYEE)
            boss = self.admin()
            codes = {}
            for i in range(agents):
                name = f"pc-{i:02d}"
                created = boss.json("POST", "/api/v1/machines", json_body={"name": name})
                self.machine_ids[name] = created["machine"]["id"]
                codes[name] = created["enrolment"]["code"]
                boss.json("PUT", f"/api/v1/machines/{name}/grants/{EMPLOYEE[0]}", json_body={})
            for name in codes:
                self.agents[name] = AgentProcess(base / f"agent-{name}", self.url, vnc)
            for name, code in codes.items():
                enroll_agent(self.agents[name], code)
            for agent in self.agents.values():
                agent.start()
            self.wait_agents_online(timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for agent in self.agents.values():
            if agent.proc is not None and agent.proc.poll() is None:
                agent.proc.send_signal(signal.SIGCONT)  # a frozen agent must be able to stop
            agent.stop()
        if self.nginx is not None:
            self.nginx.stop()
        for gw in self.nodes.values():
            gw.stop()
        self.redis.stop()
        self.vnc.stop()

    def add_agent(self, name: str, gateway_url: str | None = None) -> AgentProcess:
        """One more enrolled and online agent, dialling ``gateway_url`` (default: nginx).
        Not in ``agents``: the caller stops it."""
        boss = self.admin()
        created = boss.json("POST", "/api/v1/machines", json_body={"name": name})
        self.machine_ids[name] = created["machine"]["id"]
        boss.json("PUT", f"/api/v1/machines/{name}/grants/{EMPLOYEE[0]}", json_body={})
        agent = AgentProcess(self.base / f"agent-{name}", gateway_url or self.url, self.vnc)
        enroll_agent(agent, created["enrolment"]["code"])
        agent.start()
        wait_for(lambda: self.agent_node(name), timeout=20, interval=0.2, what=f"{name} online")
        return agent

    # -- clients --

    def employee(self) -> Client:
        return Client(self.url, *EMPLOYEE)

    def admin(self) -> Client:
        return Client(self.url, *ADMIN)

    def redis_client(self):
        import redis

        return redis.Redis(port=self.redis.port, socket_timeout=5)

    # -- what Redis says (the test looks, it never writes) --

    def agent_node(self, machine: str) -> str | None:
        raw = self.redis_client().hget(f"{PREFIX}agent:{self.machine_ids[machine]}", "node")
        return raw.decode() if raw else None

    def agents_on(self, node: str) -> list[str]:
        return [m for m in self.agents if self.agent_node(m) == node]

    def wait_agents_online(self, timeout: float = 30, *, not_on: str | None = None) -> None:
        """Every agent registered in Redis (and none on ``not_on``)."""
        def ready():
            nodes = [self.agent_node(m) for m in self.agents]
            return all(n is not None and n != not_on for n in nodes)
        wait_for(ready, timeout=timeout, interval=0.2, what="agents online")

    def node_alive(self, node: str) -> bool:
        return bool(self.redis_client().exists(f"{PREFIX}node:{node}"))

    # -- nodes --

    def restart_node(self, name: str) -> None:
        gw = self.nodes[name]
        if gw.proc is not None and gw.proc.poll() is None:
            gw.stop()
        with open(gw.instance / "gateway.log", "ab") as fh:
            fh.write(b"--- restart ---\n")
        gw.start()


# -- viewers ---------------------------------------------------------------------------------------

def small_update_request(ws) -> None:
    """FramebufferUpdateRequest of an 8×8 corner, non-incremental (RFC 6143 §7.5.3)."""
    ws.write_message(struct.pack(">BBHHHH", 3, 0, 0, 0, 8, 8))


def update_size(init) -> int:
    """Bytes of the FramebufferUpdate answering ``small_update_request`` (one Raw rectangle)."""
    return 4 + 12 + 8 * 8 * (init.server_init.pixel_format[0] // 8)


class Viewer:
    """A viewer session through nginx that keeps reading (answering pings) in a thread.

    ``echo()`` asks for one small update and waits for it; ``closed`` is set
    with the close code and reason once the gateway closes the socket.
    """

    def __init__(self, client: WebClient, machine: str):
        self.machine = machine
        issued = client.open_session(machine)
        self.session = issued["session"]
        self.ws = client.view_socket(issued["ticket"])
        self.ws.settimeout(20)
        self.init = rfb_open(self.ws)
        self.ws.settimeout(None)
        self.updates = 0
        self._update = threading.Condition()
        self.closed = threading.Event()
        self.closed_at: float | None = None
        self._buffer = b""
        self._thread = threading.Thread(target=self._read, daemon=True, name=f"viewer-{self.session[:6]}")
        self._thread.start()

    @property
    def close_code(self):
        return self.ws.close_code

    @property
    def close_reason(self):
        return self.ws.close_reason

    def _read(self) -> None:
        need = update_size(self.init)
        try:
            while True:
                data = self.ws.read_message()
                if data is None:
                    break
                self._buffer += data
                while len(self._buffer) >= need and self._buffer[:1] == b"\x00":
                    self._buffer = self._buffer[need:]
                    with self._update:
                        self.updates += 1
                        self._update.notify_all()
        except OSError:
            pass
        finally:
            self.closed_at = time.monotonic()
            self.closed.set()
            with self._update:
                self._update.notify_all()

    def echo(self, timeout: float = 10.0) -> float:
        started = time.monotonic()
        with self._update:
            before = self.updates
            small_update_request(self.ws)
            if not self._update.wait_for(lambda: self.updates > before or self.closed.is_set(), timeout):
                raise TimeoutError(f"no echo within {timeout}s")
        if self.updates <= before:
            raise ConnectionError(f"closed: {self.close_code} {self.close_reason}")
        return time.monotonic() - started

    def close(self) -> None:
        self.ws.close_with(1000)
        self._thread.join(5)
