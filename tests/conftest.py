"""Fixtures: ``app``, ``client``, ``auth``, ``redis``, ``xvnc``, ``gateway``, ``agent``, ``stack``, ``pg_url``
(a database of the test's own on ``postgres_server``).

Real parts only (see ``tests/support``). Redis: ``REDIS_URL`` if set,
otherwise a redis-server of our own on a free port. Each app or gateway gets
its own key prefix, so tests never see each other's live state.
"""

from __future__ import annotations

import itertools
import os
import uuid
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import (AgentProcess, ForwardProcess, Gateway, RedisServer, free_port, start_x11vnc,
                           start_xvnc, wait_for)
from tests.support.web import PASSWORDS, AuthActions

ARTIFACTS = Path(os.environ.get("PONTE_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
_prefixes = itertools.count(1)


def pytest_configure(config):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # The tests start hundreds of interpreters (gateways, agents, forwards). With
    # PYTHONDONTWRITEBYTECODE set (some shells set it) each one compiled every gateway module
    # from source again, ~0.4 CPU-s a start; __pycache__ is ignored by git.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def needs(*binaries: str):
    missing = [b for b in binaries if shutil.which(b) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)} (make test installs them)")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real Redis for the whole run: ours unless REDIS_URL is set."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture
def prefix():
    return f"t{os.getpid()}-{next(_prefixes)}:"


@pytest.fixture
def redis(redis_server, prefix):
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_server)
    yield client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def app(tmp_path, redis_server, prefix):
    from gateway import create_app

    app = create_app({"instance_path": str(tmp_path / "instance"), "redis_url": redis_server,
                      "redis_prefix": prefix, "login_limit": "1000 per minute"})
    app.config["TESTING"] = True
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def users(app):
    """An admin, an employee and another employee, with one granted machine."""
    from gateway import ops

    with app.app_context():
        ops.add_user("boss", PASSWORDS["boss"], admin=True)
        emp = ops.add_user("emp", PASSWORDS["emp"])
        ops.add_user("other", PASSWORDS["other"])
        machine, code = ops.add_machine("desk-1")
        ops.add_machine("desk-2")
        ops.grant(emp, machine)
        return {"code": code, "machine_id": machine.id}


@pytest.fixture(scope="session")
def xvnc(tmp_path_factory):
    """One Xvnc (TigerVNC) desktop with a VNC password for the session."""
    server = start_xvnc(tmp_path_factory.mktemp("xvnc"))
    yield server
    server.stop()


@pytest.fixture
def vnc_factory(tmp_path):
    started = []

    def make(kind: str = "xvnc", **kwargs):
        starter = start_xvnc if kind == "xvnc" else start_x11vnc
        server = starter(tmp_path / f"{kind}-{len(started)}", **kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def gateway_factory(tmp_path, redis_server):
    started = []

    def make(ready_timeout: float = 20.0, **env) -> Gateway:
        n = len(started)
        gw = Gateway(tmp_path / f"gateway-{n}", free_port(), redis_server,
                     extra_env={"PONTE_REDIS_PREFIX": f"g{os.getpid()}-{next(_prefixes)}:", **env},
                     ready_timeout=ready_timeout)
        started.append(gw)
        return gw.start()

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def agent_factory(tmp_path):
    started = []

    def make(gateway: Gateway, machine: str, vnc, *, start: bool = True, wait_online: bool = True,
             extra_args: tuple = ()) -> AgentProcess:
        code = gateway.add_machine(machine)
        agent = AgentProcess(tmp_path / f"agent-{machine}", gateway.url, vnc, extra_args=extra_args)
        agent.enroll(code)
        started.append(agent)
        if start:
            agent.start()
            if wait_online:
                wait_for(lambda: gateway.machine_state(machine) == "online", timeout=20,
                         interval=0.3, what=f"{machine} online")
        return agent

    yield make
    for agent in started:
        agent.stop()


@dataclass
class Stack:
    gateway: Gateway
    agent: AgentProcess
    vnc: object
    machine: str = "office-pc"
    user: str = "emp"
    password: str = "emppass12"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    """A whole Ponte on loopback: Redis, gateway, Xvnc with a password, an enrolled agent.

    Users: ``emp`` (granted office-pc), ``other`` (granted nothing), ``boss`` (admin).
    """
    base = tmp_path_factory.mktemp("stack")
    vnc = start_xvnc(base / "xvnc", geometry="320x240")
    gw = Gateway(base / "gateway", free_port(), redis_server,
                 extra_env={"PONTE_REDIS_PREFIX": f"s{os.getpid()}-{next(_prefixes)}:",
                            "PONTE_LOGIN_LIMIT": "1000 per minute", "PONTE_HTTP_TIMEOUT": "3",
                            # Modules add many PCs to this gateway, all enrolled from 127.0.0.1.
                            "PONTE_ENROL_LIMIT": "1000 per minute"}).start()
    gw.add_user("emp", "emppass12")
    gw.add_user("other", "otherpass1")
    gw.add_user("boss", "bosspass12", admin=True)
    code = gw.add_machine("office-pc")
    gw.cli("grant", "emp", "office-pc")
    agent = AgentProcess(base / "agent", gw.url, vnc)
    agent.enroll(code)
    agent.start()
    wait_for(lambda: gw.machine_state("office-pc") == "online", timeout=20, interval=0.3, what="agent online")
    yield Stack(gw, agent, vnc)
    agent.stop()
    gw.stop()
    vnc.stop()


@pytest.fixture
def forward(stack, tmp_path):
    started = []

    def make(user: str = "emp", password: str = "emppass12", machine: str = "office-pc") -> ForwardProcess:
        fwd = ForwardProcess.start(tmp_path, stack.gateway.url, machine, user, password)
        started.append(fwd)
        return fwd

    yield make
    for fwd in started:
        fwd.stop()


@pytest.fixture(scope="session")
def vncdotool():
    """vncdotool's synchronous API (Twisted in a thread), shut down once at the end."""
    from vncdotool import api

    yield api
    api.shutdown()


@pytest.fixture(scope="session")
def postgres_server():
    """Base URL of a real PostgreSQL: ``PONTE_TEST_POSTGRES``, the machine's on 5432, or our own."""
    from tests.support.postgres import MACHINE, PostgresServer, answers, binaries

    given = os.environ.get("PONTE_TEST_POSTGRES")
    if given:
        yield given
        return
    if answers(MACHINE):
        yield MACHINE
        return
    if binaries() is None:
        pytest.skip("no PostgreSQL answers on 127.0.0.1:5432 and none is installed (make test installs it)")
    server = PostgresServer.start()
    yield server.url
    server.stop()


@pytest.fixture
def pg_url(postgres_server):
    """A database of this test's own on that server, dropped afterwards."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    name = f"ponte_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    yield f"{postgres_server}/{name}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
