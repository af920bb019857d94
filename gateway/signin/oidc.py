"""OpenID Connect sign-in (Authlib's Flask client): authorisation-code flow with PKCE.

``/login/oidc`` sends the browser to the provider with a fresh ``state``, ``nonce``
and PKCE ``code_challenge`` (S256), kept in the signed session cookie; the provider
sends it back to ``/login/oidc/callback``, where Authlib checks the state, redeems the
code with the verifier, and verifies the ID token: signature (the provider's JWKS),
issuer (the discovery document's), audience (our client id; rules of our own, see
``_id_token_rules``), expiry and nonce. An answer without an ID token is refused.

Then the person is the one whose Ponte name is the ``oidc_username_claim`` claim:
an account that signs in with ``oidc`` (the admin's choice), enabled; or, when
``oidc_create_users`` allows, a new one made on the spot. Their groups claim is mapped
to Ponte groups (``groups.sync_groups``) at each sign-in. The login that starts is an
ordinary one (``auth._start_login``): same cookie, epoch, lifetimes, revocation.
"""

from __future__ import annotations

import logging
import time

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from joserfc.errors import JoseError
from requests import RequestException
from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import ops, tenancy
from ..auth import AUTH_AT, CLOCK_SKEW, _start_login, client_ip, ip_key, safe_next
from ..extensions import db, limiter
from ..headers import external_url
from ..models import Organisation, audit, find_user
from ..orgcontext import organisation_of_browser
from ..scoping import acting_organisation
from . import firms, groups
from .accounts import add_invited_user
from ..i18n import noop as _n

log = logging.getLogger(__name__)

bp = Blueprint("signin_oidc", __name__, url_prefix="/login/oidc")
NEXT = "ponte_oidc_next"
FLOW = "ponte_oidc_organisation"   # the firm a sign-in was begun for
CONFIRM = "ponte_oidc_confirm"   # a logged-in person confirming who they are (/reauth)
PROVIDER_TIMEOUT = 10.0   # seconds for each request to the provider (discovery, keys, token)
REFUSED = _n("Company sign-in did not work. Try again, or ask your admin.")


def _client(org_id: int):
    """This app's Authlib client for the OpenID provider of organisation ``org_id`` (``firms``),
    with its settings; the client is ``None`` when that firm has no provider."""
    app = current_app._get_current_object()
    settings = firms.settings_for(org_id)
    if not settings.oidc_issuer:
        return None, settings
    # One client per firm and per issuer/client/secret: Authlib keeps each flow's state in the
    # cookie under the client's name, so a flow begun for one firm is no flow of another's, and
    # a changed secret is a new client on every node.
    name = f"org{org_id}_{firms.secret_digest(settings)}"
    oauth = app.extensions.get("ponte.oidc")
    if oauth is None:
        oauth = app.extensions["ponte.oidc"] = OAuth(app)
    client = oauth.create_client(name)
    if client is None:
        client = oauth.register(
            name, client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret or None,
            server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": " ".join(settings.oidc_scopes), "code_challenge_method": "S256",
                           "default_timeout": PROVIDER_TIMEOUT})
    return client, settings


@bp.app_context_processor
def _firm_signin():
    """``firm_signin()`` in templates: the sign-in settings of the firm the page is for."""
    return {"firm_signin": lambda: firms.settings_for(acting_organisation())}


@bp.get("")
@limiter.limit("30 per minute", key_func=ip_key)
def start():
    org = acting_organisation()   # the firm of the login page (or host name), or the person's
    client, _settings = _client(org)
    if client is None:
        abort(404)
    session[NEXT] = safe_next(request.args.get("next"))
    session[FLOW] = org
    base = external_url(current_app.config["PONTE"])
    redirect_uri = base + url_for("signin_oidc.callback")
    if current_user.is_authenticated:
        if request.args.get("confirm") != "1" or current_user.signin_method != "oidc":
            return redirect(url_for("portal.index"))
        # The recent-login rule (/reauth): the provider must ask for the person's credentials
        # again now (max_age=0, OpenID Connect Core §3.1.2.1), not reuse its own session.
        session[CONFIRM] = {"user": current_user.id, "at": time.time()}
        return client.authorize_redirect(redirect_uri, prompt="login", max_age=0)
    session.pop(CONFIRM, None)
    return client.authorize_redirect(redirect_uri)


@bp.get("/callback")
@limiter.limit("30 per minute", key_func=ip_key)
def callback():
    # The firm is the one this browser's flow was begun for (the signed cookie), never what the
    # answer says: its client, issuer and keys check the answer, its people are looked up.
    org = session.pop(FLOW, None)
    if not isinstance(org, int) or isinstance(org, bool) or (current_user.is_authenticated
                                                              and current_user.organisation_id != org):
        return _refused("no sign-in was begun here", organisation_of_browser())
    tenancy.switch(org)
    firm = db.session.get(Organisation, org)
    client, settings = _client(org)
    if client is None or firm is None or firm.disabled:
        return _refused("the organisation has no OpenID provider, or is disabled", tenancy.DEFAULT)
    try:
        token = client.authorize_access_token(claims_options=_id_token_rules(client, settings))
        if not token.get("userinfo"):
            raise ValueError("the provider's answer has no ID token")
    except (AuthlibBaseError, JoseError, RequestException, ValueError, KeyError, OSError) as exc:
        return _refused(str(exc), org)
    claims = token.get("userinfo") or {}
    name = str(claims.get(settings.oidc_username_claim) or "").strip()
    confirm = session.pop(CONFIRM, None)
    if confirm is not None and current_user.is_authenticated:
        return _confirmed(confirm, claims, name)
    user = find_user(name) if name else None
    if user is None and name and settings.oidc_create_users:
        try:
            user = add_invited_user(name, email=str(claims.get("email") or ""),
                                    display_name=str(claims.get("name") or ""), signin_method="oidc",
                                    actor="oidc", ip=client_ip())
        except ops.AdminError as exc:
            log.warning("OIDC: cannot create %r: %s", name, exc)
    if user is None or user.disabled or user.signin_method != "oidc":
        why = "no such account" if user is None else "disabled account" if user.disabled else \
            f"signs in with {user.signin_method}"
        audit("login_failed", actor=name[:64], ip=client_ip(), detail=f"oidc: {why}")
        db.session.commit()
        flash((_("There is no Ponte account for %(name)s that signs in this way. Ask your admin.", name=name)
               if name else _("There is no Ponte account for you that signs in this way. Ask your admin."))
              if user is None or user.signin_method != "oidc" else _(REFUSED), "error")
        return redirect(_login_url(firm))
    company_groups = claims.get(settings.oidc_groups_claim) or []
    if isinstance(company_groups, str):
        company_groups = [company_groups]
    groups.sync_groups(user, [str(g) for g in company_groups], groups.parse_map(settings.oidc_group_map),
                       actor="oidc", ip=client_ip())
    target = session.get(NEXT)
    _start_login(user)
    audit("login", actor=user.name, ip=client_ip(), detail="oidc")
    db.session.commit()
    return redirect(safe_next(target))


def _refused(why: str, org: int):
    log.warning("OIDC sign-in refused: %s", why)
    audit("login_failed", ip=client_ip(), detail=f"oidc: {why[:400]}")
    db.session.commit()
    flash(_(REFUSED), "error")
    return redirect(_login_url(db.session.get(Organisation, org)))


def _login_url(firm: Organisation | None) -> str:
    """Back to the login page the person came from: their firm's own."""
    if firm is None or firm.id == tenancy.DEFAULT or firm.disabled:
        return url_for("auth.login")
    return url_for("auth.org_login", slug=firm.slug)


def _id_token_rules(client, settings) -> dict:
    """What the ID token's ``iss`` and ``aud`` must be (OpenID Connect Core §3.1.3.7, steps 2–3).

    Authlib checks the issuer only when given no rules, and the audience only through ``azp``:
    a token the provider issued to another of its clients, naming us as ``azp``, would pass.
    So both are spelt out here; signature, expiry and nonce Authlib checks in any case."""
    issuer = client.load_server_metadata()["issuer"]
    return {"iss": {"essential": True, "values": [issuer]},
            "aud": {"essential": True, "values": [settings.oidc_client_id]}}


def _confirmed(confirm: dict, claims: dict, name: str):
    """The end of a /reauth through the provider: the same person, authenticated just now."""
    auth_time = claims.get("auth_time")
    fresh = isinstance(auth_time, (int, float)) and auth_time >= float(confirm.get("at", 0)) - CLOCK_SKEW
    if confirm.get("user") != current_user.id or name != current_user.name or not fresh:
        audit("reauth_failed", actor=current_user.name, ip=client_ip(),
              detail=f"oidc: {'not a fresh sign-in' if not fresh else 'another account: ' + name[:64]}")
        db.session.commit()
        flash(_("That was not a fresh sign-in as you. Try again."), "error")
        return redirect(url_for("auth.reauth", next=session.get(NEXT)))
    session[AUTH_AT] = time.time()
    audit("reauth", actor=current_user.name, ip=client_ip(), detail="oidc")
    db.session.commit()
    return redirect(safe_next(session.get(NEXT)))
