"""While SQL is unreachable, pages and the API answer 503 with a plain sentence, never 500.

A real PostgreSQL behind the test's TCP proxy; the proxy drops every
connection and refuses new ones, as a database restarting or a firewall
change would.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.web import AuthActions
from tests.support.faultproxy import FaultProxy


@pytest.fixture
def db_app(tmp_path, redis_server, prefix, pg_url):
    from gateway import create_app
    from gateway import ops

    parts = urlsplit(pg_url)
    proxy = FaultProxy((parts.hostname, parts.port)).start()
    url = pg_url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{proxy.port}", 1)
    app = create_app({"instance_path": str(tmp_path / "instance"), "redis_url": redis_server,
                      "redis_prefix": prefix, "database_url": url, "login_limit": "1000 per minute",
                      "database_connect_timeout": 1})
    app.config["TESTING"] = True
    with app.app_context():
        ops.add_user("emp", "emppass12")
    yield app, proxy
    proxy.stop()
    with app.app_context():
        from gateway.extensions import db

        db.engine.dispose()


def test_pages_api_and_healthz_answer_503_while_sql_is_down(db_app):
    app, proxy = db_app
    client = app.test_client()
    auth = AuthActions(client)
    assert auth.login("emp", "emppass12").status_code == 302
    assert client.get("/").status_code == 200

    proxy.refuse()
    proxy.drop()
    page = client.get("/")
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert "cannot reach its database" in text and "Traceback" not in text
    api = client.get("/api/v1/me/machines")
    assert api.status_code == 503
    assert api.get_json()["error"]["code"] == "database_unavailable"
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["database"].startswith("error")
    assert client.get("/login").status_code == 503  # logged in: who is it?
    someone = app.test_client()  # not logged in: the form needs no database, the login does
    page = someone.get("/login")
    assert page.status_code == 200
    login = someone.post("/login", data={"csrf_token": _csrf(page), "name": "emp", "password": "emppass12"})
    assert login.status_code == 503 and "cannot reach its database" in login.get_data(as_text=True)

    proxy.heal()
    assert client.get("/").status_code == 200
    assert client.get("/healthz").status_code == 200


def _csrf(resp) -> str:
    from tests.support.web import csrf_from

    return csrf_from(resp.get_data(as_text=True))


def test_libpq_gets_timeouts_and_keepalives(tmp_path, redis_server, prefix, pg_url):
    from gateway.config import load_settings
    from gateway.database import engine_options

    settings = load_settings(overrides={"instance_path": str(tmp_path), "database_url": pg_url + "?keepalives_idle=7",
                                        "database_statement_timeout": 2.5, "database_pool_timeout": 4})
    options = engine_options(settings)
    args = options["connect_args"]
    assert options["pool_timeout"] == 4 and options["pool_pre_ping"] is True
    assert args["options"] == "-c statement_timeout=2500"
    assert args["connect_timeout"] == 3 and args["keepalives"] == 1
    assert "keepalives_idle" not in args  # the URL's own value wins

    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url, **options)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SHOW statement_timeout")).scalar() == "2500ms"
            with pytest.raises(sqlalchemy.exc.OperationalError, match="statement timeout"):
                conn.execute(sqlalchemy.text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()
