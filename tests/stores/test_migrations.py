"""Alembic migrations and the models agree, on SQLite and (when it answers) PostgreSQL.

A model change without its migration fails here, before any deployment
finds out.
"""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from gateway.app import BASELINE_REVISION, MIGRATIONS
from gateway.extensions import db


def _upgrade_only(url: str, revision: str = "head", *, secret_key: str = "", down: bool = False) -> None:
    """Build the schema through the migrations alone (never create_all); ``down``: downgrade to it."""
    from flask import Flask
    from flask_migrate import Migrate, downgrade, upgrade

    app = Flask("migrations-only")
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=secret_key)
    db.init_app(app)
    Migrate(app, db, directory=str(MIGRATIONS))
    import gateway.models  # noqa: F401  (registers the tables on db.metadata)

    with app.app_context():
        (downgrade if down else upgrade)(directory=str(MIGRATIONS), revision=revision)
        db.engine.dispose()


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), db.metadata)
    finally:
        engine.dispose()


def test_migrations_build_exactly_the_models_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    _upgrade_only(url)
    assert _diff(url) == []


def test_migrations_build_exactly_the_models_postgresql(pg_url):
    _upgrade_only(pg_url)
    assert _diff(pg_url) == []


def test_fresh_database_is_created_and_stamped(tmp_path, redis_server, prefix):
    from gateway import create_app

    create_app({"instance_path": str(tmp_path), "redis_url": redis_server, "redis_prefix": prefix})
    with sqlite3.connect(tmp_path / "ponte.db") as conn:
        (head,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert head  # stamped at the newest revision
    assert head == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    # A second start upgrades (a no-op) instead of re-creating.
    create_app({"instance_path": str(tmp_path), "redis_url": redis_server, "redis_prefix": prefix})


def test_database_from_before_migrations_is_adopted(tmp_path, redis_server, prefix):
    from gateway import create_app

    url = f"sqlite:///{tmp_path / 'ponte.db'}"
    # What create_app's create_all made before migrations existed: the baseline schema
    # (today's models have columns added by later revisions), with no alembic_version.
    _upgrade_only(url, revision=BASELINE_REVISION)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()
    create_app({"instance_path": str(tmp_path), "redis_url": redis_server, "redis_prefix": prefix})
    engine = create_engine(url)
    assert "alembic_version" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        (version,) = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchone()
    engine.dispose()
    assert BASELINE_REVISION == "0001_initial"
    # Stamped at the baseline, then upgraded through every later migration.
    assert version == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_totp_seeds_are_sealed_by_the_upgrade_and_opened_by_the_downgrade(tmp_path):
    from gateway import sealing

    url, key, seed = f"sqlite:///{tmp_path / 'm.db'}", "instance-secret-for-the-test", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    _upgrade_only(url, revision="0004_company_signin")
    with sqlite3.connect(tmp_path / "m.db") as conn:   # SQLite does not enforce the user's foreign key here
        conn.execute("INSERT INTO totp_factors (user_id, secret, created_at, last_step) "
                     "VALUES (1, ?, '2026-12-01 10:00:00', 7)", (seed,))
    _upgrade_only(url, secret_key=key)
    with sqlite3.connect(tmp_path / "m.db") as conn:
        row = conn.execute("SELECT * FROM totp_factors").fetchone()
        (sealed,) = conn.execute("SELECT sealed_secret FROM totp_factors").fetchone()
    assert seed not in " ".join(map(str, row)) and sealing.unseal(sealed, key) == seed
    _upgrade_only(url, revision="0004_company_signin", secret_key=key, down=True)
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("SELECT secret, last_step FROM totp_factors").fetchone() == (seed, 7)


def test_an_upgrade_with_seeds_to_seal_and_no_instance_secret_stops(tmp_path):
    import pytest

    from gateway.errors import SealError

    url = f"sqlite:///{tmp_path / 'm.db'}"
    _upgrade_only(url, revision="0004_company_signin")
    with sqlite3.connect(tmp_path / "m.db") as conn:
        conn.execute("INSERT INTO totp_factors (user_id, secret, created_at, last_step) "
                     "VALUES (1, 'JBSWY3DPEHPK3PXP', '2026-12-01 10:00:00', 0)")
    with pytest.raises(SealError):
        _upgrade_only(url)
    with sqlite3.connect(tmp_path / "m.db") as conn:   # nothing lost: still the plain seed, still at 0004
        assert conn.execute("SELECT secret FROM totp_factors").fetchone() == ("JBSWY3DPEHPK3PXP",)
