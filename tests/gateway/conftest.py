"""Fixtures for the gateway's web, API and authorisation tests (Flask test client, real Redis)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from gateway.cli import main

from tests.support.node_commands import Commands
from tests.support.records import add_live_session, session_ref
from tests.support.web import PASSWORDS, AuthActions


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """Argon2 with tiny costs: the same code path, a hundredth of the time."""
    from gateway import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@dataclass
class World:
    """Who and what exists: ids of users, machines, a group, sessions and a token."""

    users: dict = field(default_factory=dict)      # name -> id
    machines: dict = field(default_factory=dict)   # name -> id
    groups: dict = field(default_factory=dict)
    live: dict = field(default_factory=dict)       # owner name -> live session id
    ended: dict = field(default_factory=dict)      # owner name -> ended session id
    token: str = ""                                # bearer token of boss
    node: str = "node-elsewhere"


@pytest.fixture
def world(app, users) -> World:
    """``users`` (boss admin, emp granted desk-1, other) plus: desk-3 granted to other through
    group ``sales``, desk-boss granted to boss, a live and an ended session each for emp and other,
    and a bearer token for boss."""
    from gateway import ops
    from gateway.extensions import db
    from gateway.models import SessionRecord, utcnow

    w = World()
    with app.app_context():
        boss, emp, other = ops.get_user("boss"), ops.get_user("emp"), ops.get_user("other")
        desk3, _ = ops.add_machine("desk-3")
        deskb, _ = ops.add_machine("desk-boss")
        sales = ops.add_group("sales")
        ops.add_member(sales, other)
        ops.grant(sales, desk3)
        ops.grant(boss, deskb)
        desk1, desk2 = ops.get_machine("desk-1"), ops.get_machine("desk-2")
        _, w.token = ops.create_token(boss, "tests", actor="boss")
        w.users = {u.name: u.id for u in (boss, emp, other)}
        w.machines = {m.name: m.id for m in (desk1, desk2, desk3, deskb)}
        w.groups = {"sales": sales.id}
        for owner, machine in (("emp", desk1), ("other", desk3)):
            user = ops.get_user(owner)
            live_id, ended_id = session_ref(f"live-{owner}"), session_ref(f"ended-{owner}")
            add_live_session(app, live_id, user, machine)
            db.session.add(SessionRecord(id=ended_id, user_id=user.id, user_name=user.name, machine_id=machine.id,
                                         machine_name=machine.name, client_ip="203.0.113.9", ended_at=utcnow(),
                                         bytes_to_viewer=5, bytes_from_viewer=6, end_reason="viewer closed"))
            db.session.commit()
            w.live[owner], w.ended[owner] = live_id, ended_id
    return w


@pytest.fixture
def login(client):
    """``login(name)``: log ``client`` in through the form; returns AuthActions (``.csrf``)."""
    def do(name: str, password: str | None = None) -> AuthActions:
        actions = AuthActions(client)
        resp = actions.login(name, password or PASSWORDS[name])
        assert resp.status_code == 302, f"login as {name} failed: {resp.status_code}"
        return actions
    return do


@pytest.fixture
def admin(users, login) -> AuthActions:
    return login("boss")


@pytest.fixture
def commands(app):
    c = Commands(app)
    yield c
    c.close()


@pytest.fixture
def cli(tmp_path, redis_server, prefix, monkeypatch):
    """``python -m gateway …`` in-process (click's runner) on an instance of the test's own:
    ``cli(*args, ok=True)`` returns the output and checks the exit code."""
    monkeypatch.delenv("PONTE_CONFIG", raising=False)
    env = {"PONTE_INSTANCE_PATH": str(tmp_path / "cli"), "REDIS_URL": redis_server, "PONTE_REDIS_PREFIX": prefix,
           "PONTE_NEW_PASSWORD": "clipassword1"}
    runner = CliRunner()

    def run(*args, ok=True):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output
    return run
