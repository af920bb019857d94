"""The durable store on a real PostgreSQL (skipped when none answers on 127.0.0.1:5432).

The whole admin and session lifecycle runs against a database of its own,
created for the test and dropped afterwards.
"""

from __future__ import annotations

import pytest


def test_lifecycle_on_postgresql(tmp_path, redis_server, prefix, pg_url):
    from gateway import create_app
    from gateway import ops
    from gateway import sessions
    from gateway.extensions import db
    from gateway.models import SessionRecord, granted_machines, machine_for_user

    app = create_app({"instance_path": str(tmp_path), "redis_url": redis_server, "redis_prefix": prefix,
                      "database_url": pg_url})
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        emp = ops.add_user("emp", "emppass12")
        other = ops.add_user("other", "otherpass1")
        machine, code = ops.add_machine("pc-1")
        ops.grant(emp, machine)
        enrolled, credential = ops.enrol_agent(code, "host", "127.0.0.1")
        assert enrolled.id == machine.id and credential.startswith(f"{machine.id}.")
        with pytest.raises(ops.EnrolmentError):
            ops.enrol_agent(code, "host", "127.0.0.1")
        assert [m.name for m in granted_machines(emp)] == ["pc-1"]
        assert machine_for_user(emp, "pc-1") is not None
        assert machine_for_user(other, "pc-1") is None
        issued = sessions.issue(emp, machine, "127.0.0.1")
        sessions.started(issued.session, emp, machine, "127.0.0.1", "node-a")
        sessions.ended(issued.session, machine.id, to_viewer=1000, from_viewer=10, reason="viewer closed")
        row = db.session.get(SessionRecord, issued.session)
        assert (row.bytes_to_viewer, row.end_reason, row.ended_at is not None) == (1000, "viewer closed", True)
        db.session.remove()
        db.engine.dispose()


def test_own_server_when_the_machine_has_none(tmp_path, redis_server, prefix):
    """What ``pg_url`` falls back to: a cluster of the tests' own (initdb/pg_ctl as postgres)."""
    from tests.support.postgres import PostgresServer, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    server = PostgresServer.start()
    try:
        from gateway import create_app
        from gateway import ops
        from gateway.extensions import db
        from gateway.models import User

        app = create_app({"instance_path": str(tmp_path), "redis_url": redis_server, "redis_prefix": prefix,
                          "database_url": f"{server.url}/postgres"})
        with app.app_context():
            ops.add_user("emp", "emppass12")
            assert db.session.query(User).count() == 1
            db.session.remove()
            db.engine.dispose()
    finally:
        server.stop()
    assert not server.dir.exists()
