"""Which language and time zone a page is shown in, the catalogs, and the language switch.

The language, first match wins: the person's saved choice (``users.locale``), the
``ponte_lang`` cookie (set by the switcher on the login page, before anyone is known),
the browser's ``Accept-Language``, English. The time zone is the gateway's ``timezone``
setting, or the system's. Catalogs are gettext ``.po`` files under ``translations/``
(kept by ``gateway.catalogs``), compiled to ``.mo`` when missing or older (at start, or by
``make deps``); the page scripts get the entries that come from ``novnc_static/*.js`` as
JSON (``/i18n/<lang>.json``).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.localtime import get_localzone
from flask import (Blueprint, Flask, abort, current_app, g, has_request_context, jsonify, redirect,
                   request, url_for)
from flask_babel import Babel, get_locale

from .catalogs import TRANSLATIONS, compile_catalogs, read

log = logging.getLogger(__name__)

LANGUAGES = ("en", "it")
DEFAULT = "en"
#: Names each language by itself, for the switcher.
NAMES = {"en": "English", "it": "Italiano"}
COOKIE = "ponte_lang"
COOKIE_AGE = 365 * 24 * 3600
#: ``g`` flag set where the page must be made without asking the database who is logged in.
NO_USER = "ponte_no_user"

bp = Blueprint("i18n", __name__)
babel = Babel()


def noop(text: str) -> str:
    """Marks ``text`` for the catalog (``make messages``) where it is translated later, when read."""
    return text


def _known(value) -> str | None:
    value = (value or "").strip().lower()
    return value if value in LANGUAGES else None


def select_locale() -> str:
    """The language of this request (see the module docstring); English outside one."""
    if not has_request_context():
        return DEFAULT
    if not g.get(NO_USER):
        from flask_login import current_user

        saved = _known(getattr(current_user, "locale", None)) if current_user.is_authenticated else None
        if saved:
            return saved
    return (_known(request.cookies.get(COOKIE)) or (None if g.get(NO_USER) else _organisation_language())
            or request.accept_languages.best_match(LANGUAGES, default=DEFAULT))


def _organisation_language() -> str | None:
    """A firm's own language for its pages (issue 17), before the person's or the browser's
    choice; the default firm has none, so a single-firm install chooses as it always did."""
    from . import tenancy
    from .scoping import acting_organisation

    org_id = acting_organisation()
    if org_id == tenancy.DEFAULT:
        return None
    if "ponte_org_language" not in g:
        from .extensions import db
        from .models import Organisation

        org = db.session.get(Organisation, org_id)
        g.ponte_org_language = _known(org.language) if org is not None else None
    return g.ponte_org_language


def zone(name: str) -> ZoneInfo:
    """The ``timezone`` setting as a tzinfo (``config._check`` vetted the name); empty: the system's.

    Always a ``ZoneInfo`` (Babel's system zone is a pytz one, which ``datetime.replace`` misreads).
    """
    if name:
        return ZoneInfo(name)
    local = get_localzone()
    try:
        return ZoneInfo(getattr(local, "zone", None) or getattr(local, "key", None) or str(local))
    except (ValueError, KeyError, ZoneInfoNotFoundError):
        log.warning("the system's time zone %s has no IANA name: pages show UTC", local)
        return ZoneInfo("UTC")


def select_timezone():
    return zone(current_app.config["PONTE"].timezone)


@lru_cache(maxsize=None)
def script_catalog(lang: str) -> dict[str, str]:
    """The entries the page scripts use (``novnc_static/*.js``), msgid to translation.

    Untranslated entries are left out: the scripts fall back to the English key.
    """
    return {m.id: m.string for m in read(lang)
            if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
            and any(path.startswith("novnc_static/") for path, _ in m.locations)}


@bp.route("/i18n/<lang>.json")
def scripts(lang: str):
    if lang not in LANGUAGES:
        abort(404)
    reply = jsonify(script_catalog(lang))
    reply.cache_control.public = True
    reply.cache_control.max_age = 300
    return reply


@bp.route("/language", methods=["POST"])
def choose():
    """The language switcher: a cookie for this browser, and the person's saved choice."""
    from flask_login import current_user

    from .auth import safe_next, via_token
    from .extensions import db

    lang = _known(request.form.get("locale"))
    if lang is None:
        abort(400)
    if current_user.is_authenticated and not via_token():
        current_user.locale = lang
        db.session.commit()
    reply = redirect(safe_next(request.form.get("next"), url_for("portal.index")))
    settings = current_app.config["PONTE"]
    reply.set_cookie(COOKIE, lang, max_age=COOKIE_AGE, samesite="Lax", httponly=True,
                     secure=settings.cookies_secure)
    return reply


def init_app(app: Flask) -> None:
    try:
        compile_catalogs()
    except OSError as exc:  # a read-only install: then ``make deps`` must have compiled them
        log.warning("cannot compile the translations: %s", exc)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, default_locale=DEFAULT, locale_selector=select_locale,
                   timezone_selector=select_timezone)
    # {% trans %} blocks wrap like prose: their msgids are the text with whitespace folded.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals["get_locale"] = get_locale   # <html lang>, the switcher, the catalog
    app.register_blueprint(bp)

    @app.context_processor
    def languages():
        return {"languages": NAMES}

