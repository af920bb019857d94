"""The Flask app factory and its error handlers."""


from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import redis
from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _, lazy_gettext as _l
from limits.errors import StorageError

from . import assets, branding, database, headers, i18n, orgcontext, security, templating
from .config import GatewaySettings, load_settings
from .extensions import csrf, db, limiter, login_manager, migrate
from .hub import Hub
from .instance import private_files
from .live import LiveStore, LiveStoreError
from .live_redis import open_redis
from .metrics import Metrics
from .records import SqlRecords
from .refs import IdConverter

ROOT = Path(__file__).resolve().parent.parent
NOVNC_STATIC = assets.NOVNC_STATIC  # the viewer files; tests read them from here
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The first revision: databases made by ``create_all`` before migrations existed.
BASELINE_REVISION = "0001_initial"

log = logging.getLogger(__name__)

#: What an error page says when the code gave no reason of its own.
PAGE_WORDS = {
    400: _l("The request could not be understood. Go back and try again."),
    401: _l("You need to log in to see this page."),
    403: _l("You do not have access to this page."),
    404: _l("There is no page at this address. It may have moved, or the link is wrong."),
    405: _l("This page cannot be used that way."),
    413: _l("What was sent is too large."),
    429: _l("Too many tries in a short time. Wait a moment and try again."),
}
#: An error page's heading, by status (the number is shown smaller under it).
PAGE_TITLES = {
    400: _l("That did not work"),
    401: _l("Please log in"),
    403: _l("No access"),
    404: _l("Page not found"),
    405: _l("Not possible here"),
    413: _l("Too large"),
    429: _l("Too many tries"),
    500: _l("Something went wrong"),
    503: _l("Not available right now"),
}


def create_app(config: GatewaySettings | dict | None = None) -> Flask:
    """Build the gateway app from settings (or overrides of the defaults)."""
    with private_files():  # the database, its -wal/-shm and the embedded Redis dump: 0600 (instance.py)
        return _create_app(config)


def _create_app(config: GatewaySettings | dict | None) -> Flask:
    settings = config if isinstance(config, GatewaySettings) else load_settings(overrides=config)
    app = Flask(__name__, instance_path=settings.instance_path, static_folder=None)
    app.url_map.converters["int"] = IdConverter  # before any route: ASCII digits, bounded (refs.py)
    client, limits = open_redis(settings)
    security.configure(settings.hash_concurrency)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=database.engine_options(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookies_secure,
        SESSION_COOKIE_NAME="ponte_session",
        # Signed cookies older than this are refused outright; auth.load_user enforces the
        # login's own absolute and idle lifetimes.
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.login_lifetime),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.cookies_secure,
        WTF_CSRF_TIME_LIMIT=None,  # tied to the login session instead
        RATELIMIT_STORAGE_URI=limits.uri,
        RATELIMIT_STORAGE_OPTIONS=limits.options,
        RATELIMIT_KEY_PREFIX=settings.redis_prefix + "limits",
        RATELIMIT_HEADERS_ENABLED=True,
        MAX_CONTENT_LENGTH=1024 * 1024,
        PONTE=settings,
    )
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    app.extensions["ponte.redis"] = client
    app.extensions["ponte.live"] = LiveStore(client, settings.redis_prefix)
    app.extensions["ponte.hub"] = Hub(app.extensions["ponte.live"], settings, SqlRecords(app))
    app.extensions["ponte.metrics"] = Metrics(app.extensions["ponte.hub"])

    app.extensions["ponte.talisman"] = headers.init_app(app, settings)
    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    orgcontext.init_app(app)   # first of the request hooks: which firm the request acts for (issue 17)

    from . import account, admin, agent_download, api, auth, metrics, portal, ws
    # The second-factor views add routes to admin.bp, api.bp and account.bp: imported before
    # those blueprints are registered.
    from .factors import admin_views as _factor_admin, api_views as _factor_api  # noqa: F401
    from .factors import login as second_factor, reauth as _factor_reauth, views as _factor_views  # noqa: F401

    from .signin import admin_views as signin_admin, oidc as signin_oidc, views as signin_views
    from . import provider, share_views
    from .signup import provider_views as signup_provider, views as signup_views

    for blueprint in (auth.bp, portal.bp, admin.bp, api.bp, ws.bp, metrics.bp,
                      agent_download.bp,  # the agent's .pyz and the enrol page's install lines
                      account.bp, second_factor.bp,  # own account page, second factors (issue 12)
                      signin_views.bp, signin_admin.bp, signin_oidc.bp,  # company sign-in (issue 12)
                      share_views.bp,  # guests' share links (issue 14)
                      signup_views.bp, signup_provider.bp,  # firms asking for access (issue 17)
                      provider.bp):  # the provider's organisations (issue 17)
        app.register_blueprint(blueprint)
    i18n.init_app(app)
    branding.init_app(app)   # the company's name and logo (issue 13): /brand/logo, every page's header
    templating.init_app(app)
    assets.init_app(app)
    _register_errors(app)

    _prepare_schema(app)
    return app


def _prepare_schema(app: Flask) -> None:
    """Bring the database to the current schema with Alembic (Flask-Migrate).

    An empty database gets the tables in one step and is stamped at the head
    revision; any other is upgraded through the migrations in order.
    """
    from flask_migrate import stamp, upgrade
    from sqlalchemy import inspect

    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        if tables - {"alembic_version"}:
            if "alembic_version" not in tables:
                stamp(directory=str(MIGRATIONS), revision=BASELINE_REVISION)
            upgrade(directory=str(MIGRATIONS))
        else:
            db.create_all()
            _add_default_organisation()
            stamp(directory=str(MIGRATIONS), revision="head")


def _add_default_organisation() -> None:
    """The row migration 0013 writes, for a database built in one step by ``create_all``."""
    from sqlalchemy import text

    from .models import DEFAULT_ORGANISATION, Organisation

    db.session.add(Organisation(id=DEFAULT_ORGANISATION, slug="default", created_by="install"))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":   # the row was written with its id: move the sequence past it
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('organisations', 'id'), 1)"))
        db.session.commit()


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/ws/")


def _register_errors(app: Flask) -> None:
    from werkzeug.exceptions import HTTPException

    def reply(status: int, code: str, message: str):
        if _wants_json():
            return jsonify(error={"code": code, "message": message}), status
        return render_template("error.html", status=status, message=message,
                               title=PAGE_TITLES.get(status, PAGE_TITLES[500] if status >= 500 else PAGE_TITLES[400])), status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        # Werkzeug's own wording (no description given to abort): Ponte's words, in the page's
        # language; the API keeps Werkzeug's, which scripts may already match.
        if message == type(exc).description and exc.code in PAGE_WORDS and not _wants_json():
            message = str(PAGE_WORDS[exc.code])
        return reply(exc.code or 500, code, message)

    @app.errorhandler(LiveStoreError)
    @app.errorhandler(redis.RedisError)
    @app.errorhandler(StorageError)
    def live_down(exc):
        log.warning("live store unavailable: %s", exc)
        return reply(503, "live_store_unavailable",
                     _("The gateway cannot reach its live-state store right now. Try again in a moment."))

    def sql_down(exc):
        log.warning("database unavailable on %s: %s", request.path, exc)
        g.setdefault(i18n.NO_USER, True)
        message = _("The gateway cannot reach its database right now. Try again in a moment.")
        if _wants_json():
            return reply(503, "database_unavailable", message)
        # Rendered without Flask's context processors, and in a language chosen without the
        # person's saved one: Flask-Login would ask the database who is logged in, and wait
        # for it all over again.
        page = app.jinja_env.get_template("unavailable.html").render(status=503, message=message,
                                                                     title=PAGE_TITLES[503])
        return page, 503, {"Content-Type": "text/html; charset=utf-8"}

    for error in database.UNAVAILABLE:
        app.register_error_handler(error, sql_down)

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unhandled error on %s", request.path)
        return reply(500, "internal_error", _("Something went wrong on the gateway. It has been logged."))
