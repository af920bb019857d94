"""Login, logout and password confirmation for people; bearer tokens for scripts.

A login is the signed ``ponte_session`` cookie. Besides Flask-Login's keys it
carries, and ``load_user`` checks on every request:

``EPOCH``     the user's ``session_epoch`` at login. Logout, password change or
              reset, disable and "log out everywhere" bump it (``ops.end_logins``),
              so every cookie of that person stops working at once, on every node.
``LOGIN_AT``  when the password was entered: the login lasts ``login_lifetime``.
``SEEN_AT``   the person's last request: ``login_idle_timeout`` without one ends the
              login. Requests marked ``X-Ponte-Background: 1`` (the pages' own polling)
              do not count; the viewer page pings while someone uses the remote
              desktop, so a session in use is never cut (the relay itself is ended
              only by a revocation, an admin or its own end).
``AUTH_AT``   the last password entry, for the recent-login rule: admin pages and
              the admin API by cookie need one younger than ``RECENT_LOGIN``;
              ``/reauth`` renews it.

Flask-Login's strong session protection binds the cookie to the client's
address and User-Agent; the address is ``request.remote_addr`` after ProxyFix
(``trusted_proxies``), never the raw ``X-Forwarded-For`` Flask-Login would hash.
The whole session (CSRF token included) is cleared at login and logout.

Bearer API tokens (``Authorization: Bearer ponte_…``) are accepted on
``/api/`` only, carry no cookie, need no CSRF token and are exempt from the
recent-login rule (a script cannot type a password).
"""

# Over 300 lines: the login form, its limits, the firms' own login pages (issue 17) and the
# cookie checks of every request are one flow, read together when any of it changes.

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlsplit

import gevent
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_babel import gettext as _, lazy_gettext as _l, ngettext
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from agents.protocol.text import clean

from . import ops
from . import refs
from . import orgcontext, tenancy
from .extensions import db, limiter, login_manager
from .models import User, audit, find_user
from .scoping import acting_organisation
from .signin import password_check
from .throttle import LoginThrottle

bp = Blueprint("auth", __name__)

RECENT_LOGIN = 30 * 60  # seconds: admin changes need a password entered this recently
AUTH_AT = "ponte_auth_at"
EPOCH = "ponte_epoch"
LOGIN_AT = "ponte_login_at"
SEEN_AT = "ponte_seen_at"
LOGIN_KEYS = ("_user_id", "_fresh", "_id", EPOCH, LOGIN_AT, SEEN_AT, AUTH_AT)
#: Header of requests a page makes by itself (polling): they do not keep a login alive.
BACKGROUND = "X-Ponte-Background"
#: At most this often is SEEN_AT rewritten (each rewrite is a new Set-Cookie).
SEEN_RESOLUTION = 60.0
CLOCK_SKEW = 60.0  # seconds a node's clock may run behind the one that wrote the cookie


class LoginForm(FlaskForm):
    name = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class ReauthForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


def _session_identifier() -> str:
    """Flask-Login's strong-protection fingerprint, from the address ProxyFix believes.

    Flask-Login's own hashes the first ``X-Forwarded-For`` entry, which any
    client can write: a stolen cookie then works from anywhere.
    """
    base = f"{request.remote_addr or ''}|{request.headers.get('User-Agent', '')}"
    return hashlib.sha512(base.encode("utf-8", "surrogateescape")).hexdigest()


login_manager._session_identifier_generator = _session_identifier


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _login_current(user: User) -> bool:
    """The cookie's login is of ``user``'s current epoch, within its absolute and idle lifetimes."""
    settings = current_app.config["PONTE"]
    now = time.time()
    login_at, seen_at = _number(session.get(LOGIN_AT)), _number(session.get(SEEN_AT))
    if session.get(EPOCH) != user.session_epoch or login_at is None or seen_at is None:
        return False
    if not -CLOCK_SKEW <= now - login_at < settings.login_lifetime:
        return False
    if not -CLOCK_SKEW <= now - seen_at < settings.login_idle_timeout:
        return False
    if request.headers.get(BACKGROUND) != "1" and \
            now - seen_at >= min(SEEN_RESOLUTION, settings.login_idle_timeout / 10):
        session[SEEN_AT] = now
    return True


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    record_id = refs.record_id(user_id)
    if record_id is None:
        return None
    with tenancy.across_organisations():   # the row says which firm the request acts for (orgcontext)
        user = db.session.get(User, record_id)
    if user is None or user.disabled or orgcontext.firm_disabled(user.organisation_id) or not _login_current(user):
        # A dead login: forget it, but keep the CSRF token so a form posted now still reaches
        # the "log in again" redirect instead of a CSRF error.
        for key in LOGIN_KEYS:
            session.pop(key, None)
        return None
    return user


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    """``Authorization: Bearer <token>`` on the JSON API only."""
    if not req.path.startswith("/api/"):
        return None
    scheme, _, secret = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    from .ops import user_for_token

    with tenancy.across_organisations():   # the token's row says which firm (orgcontext)
        found = user_for_token(secret.strip())
    if found is None or orgcontext.firm_disabled(found[0].organisation_id):
        return None
    g.ponte_token = found[1]
    return found[0]


def via_token() -> bool:
    """True when this request is authenticated by a bearer token, not a cookie."""
    return g.get("ponte_token") is not None


def login_is_recent() -> bool:
    """A bearer token, or a password entered less than ``RECENT_LOGIN`` seconds ago."""
    if via_token():
        return True
    at = session.get(AUTH_AT)
    return isinstance(at, (int, float)) and 0 <= time.time() - at < RECENT_LOGIN


def actor() -> str:
    return current_user.name if current_user.is_authenticated else ""


def client_ip() -> str:
    return request.remote_addr or ""


def _scope() -> str:
    # Flask-Limiter keeps the key prefix of the first app it was bound to, so
    # each app (node settings, tests) scopes its own keys.
    return current_app.config["PONTE"].redis_prefix


def ip_key() -> str:
    """Rate-limit key: this gateway's client address."""
    return _scope() + "ip:" + (request.remote_addr or "")


def _login_limit() -> str:
    return current_app.config["PONTE"].login_limit


def _failed(response) -> bool:
    # Only failures count against an address: an office behind one NAT address logs in freely.
    return response.status_code != 302


def throttle() -> LoginThrottle:
    """This app's failed-login counters (see ``throttle.py``), on Flask-Limiter's Redis storage."""
    app = current_app._get_current_object()
    found = app.extensions.get("ponte.throttle")
    if found is None:
        settings = app.config["PONTE"]
        found = LoginThrottle(limiter.limiter, app.extensions["ponte.redis"], _scope(),
                              network_limit=settings.network_login_limit,
                              account_limit=settings.account_login_limit, delay_max=settings.login_delay_max)
        app.extensions["ponte.throttle"] = found
    return found


def _reauth_key() -> str:
    return _scope() + "reauth:" + (str(current_user.get_id()) if current_user.is_authenticated
                                   else request.remote_addr or "")


def safe_next(target: str | None, default: str | None = None) -> str:
    # Only local paths: an open redirect after login is a phishing gift.
    if not target or urlsplit(target).netloc or urlsplit(target).scheme or not target.startswith("/") \
            or target.startswith("//") or "\\" in target:
        return default or url_for("portal.index")
    return target



def _start_login(user: User) -> None:
    """A fresh session for ``user``: nothing from before survives, the CSRF token neither."""
    _clear_session()
    login_user(user)
    now = time.time()
    session.update({EPOCH: user.session_epoch, LOGIN_AT: now, SEEN_AT: now, AUTH_AT: now})


def _clear_session() -> None:
    """Everything goes but the firm whose login page this browser uses (``orgcontext``): the
    second-factor step after the password, and the login page after a logout, stay that firm's."""
    org = session.get(orgcontext.ORG_KEY)
    session.clear()
    if org is not None:
        session[orgcontext.ORG_KEY] = org
    g.pop("csrf_token", None)   # Flask-WTF caches the signed token for this request too


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=ip_key, deduct_when=_failed)
def login():
    """The default organisation's login (a single-firm install's only one), or, at a firm's own
    host name, that firm's."""
    if not current_user.is_authenticated:
        orgcontext.remember_organisation(orgcontext.host_organisation() or tenancy.DEFAULT)
    return _login_page()


@bp.route("/o/<slug>/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=ip_key, deduct_when=_failed)
def org_login(slug: str):
    """A firm's own login page (issue 17): names are looked up among that firm's people."""
    org = orgcontext.organisation_by_slug(slug)
    if not current_user.is_authenticated:
        orgcontext.remember_organisation(org.id)
    return _login_page()


def account_key(name: str) -> str:
    """The name as the failed-login counters know it: two firms' "mario" are two accounts
    (``reports.login_attack_rows`` shows each firm its own)."""
    org = acting_organisation()
    return name if org == tenancy.DEFAULT else f"{ACCOUNT_PREFIX}{org}:{name}"


#: Before a name typed at another firm's login than the default one's, with its id.
ACCOUNT_PREFIX = "#org"


def _login_page():
    if current_user.is_authenticated:
        return redirect(url_for("portal.index"))
    form = LoginForm()
    if form.validate_on_submit():
        name = form.name.data.strip()
        counters = throttle()
        verdict = counters.check(account_key(name), client_ip())
        if verdict.refused:
            minutes = max(1, round(verdict.retry_after / 60))
            flash(ngettext("Too many failed logins for this account from your network. "
                           "Try again in %(num)d minute.",
                           "Too many failed logins for this account from your network. "
                           "Try again in %(num)d minutes.", minutes), "error")
            resp = current_app.make_response((render_template("auth/login.html", form=form), 429))
            resp.headers["Retry-After"] = str(verdict.retry_after)
            return resp
        if verdict.delay:
            gevent.sleep(verdict.delay)   # cooperative: the node serves everyone else meanwhile
        user = find_user(name)
        check = password_check(user)   # local hash, or the company directory (gateway/signin)
        # No pooled database connection held while this login waits its turn to hash.
        db.session.rollback()
        ok = check(form.password.data)
        if ok and user is not None and not user.disabled:
            from .factors.login import hold   # issue 12: a second factor, or its set-up, may come first

            held = hold(user, safe_next(request.args.get("next")))
            if held is not None:
                return held
            _start_login(user)
            audit("login", actor=user.name, ip=client_ip())
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
        # The typed name is anyone's text: no control characters into the audit log.
        audit("login_failed", actor=clean(name, 64), ip=client_ip(),
              detail="disabled account" if ok else "wrong name or password")
        for trip in counters.failed(account_key(name), client_ip()):
            audit("login_throttled", ip=client_ip(), target=trip.account[:128], detail=trip.detail)
        db.session.commit()
        flash(_("Wrong user name or password."), "error")
        return render_template("auth/login.html", form=form), 401
    # A form sent with a field missing: the page says which, at the field (a 400, so it counts
    # as a failure for the address's limit like any other refused login).
    return render_template("auth/login.html", form=form), 400 if request.method == "POST" else 200


@bp.route("/reauth", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per minute", methods=["POST"], key_func=_reauth_key)
def reauth():
    """Confirm the password before admin changes (a login older than 30 minutes); people with a
    second factor then give it too (``factors.reauth``)."""
    form = ReauthForm()
    target = safe_next(request.args.get("next"), url_for("portal.index"))
    if form.validate_on_submit():
        if password_check(current_user._get_current_object())(form.password.data):
            from .factors.reauth import hold   # issue 12: people with a second factor give it too

            held = hold(current_user._get_current_object(), target)
            if held is not None:
                return held
            session[AUTH_AT] = time.time()
            audit("reauth", actor=current_user.name, ip=client_ip())
            db.session.commit()
            return redirect(target)
        audit("reauth_failed", actor=current_user.name, ip=client_ip(), detail="wrong password")
        db.session.commit()
        flash(_("That password is not right."), "error")
        return render_template("auth/reauth.html", form=form, target=target), 401
    return render_template("auth/reauth.html", form=form, target=target)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End this login and, as the cookie cannot be revoked alone, every login of this person."""
    ops.end_logins(current_user._get_current_object(), "You logged out", action="logout",
                   actor=current_user.name, ip=client_ip())
    logout_user()
    _clear_session()
    return redirect(url_for("auth.login"))


@bp.route("/logout/everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    """Log this person out on every browser and end their live sessions (e.g. a lost laptop)."""
    ops.end_logins(current_user._get_current_object(), "You logged out everywhere",
                   action="logout_everywhere", actor=current_user.name, ip=client_ip())
    logout_user()
    _clear_session()
    flash(_("You are logged out on every device, and your remote sessions have ended."), "ok")
    return redirect(url_for("auth.login"))
