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

from .. import ops
from ..auth import AUTH_AT, CLOCK_SKEW, _start_login, client_ip, ip_key, safe_next
from ..extensions import db, limiter
from ..headers import external_url
from ..models import audit, find_user
from . import groups
from .accounts import add_invited_user
from ..i18n import noop as _n

log = logging.getLogger(__name__)

bp = Blueprint("signin_oidc", __name__, url_prefix="/login/oidc")
NEXT = "ponte_oidc_next"
CONFIRM = "ponte_oidc_confirm"   # a logged-in person confirming who they are (/reauth)
PROVIDER_TIMEOUT = 10.0   # seconds for each request to the provider (discovery, keys, token)
REFUSED = _n("Company sign-in did not work. Try again, or ask your admin.")


def _client():
    """This app's Authlib client for the configured provider (``None``: OIDC is off)."""
    app = current_app._get_current_object()
    settings = app.config["PONTE"]
    if not settings.oidc_issuer:
        return None
    client = app.extensions.get("ponte.oidc")
    if client is None:
        oauth = OAuth(app)
        client = oauth.register(
            "company", client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret or None,
            server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": " ".join(settings.oidc_scopes), "code_challenge_method": "S256",
                           "default_timeout": PROVIDER_TIMEOUT})
        app.extensions["ponte.oidc"] = client
    return client


@bp.get("")
@limiter.limit("30 per minute", key_func=ip_key)
def start():
    client = _client()
    if client is None:
        abort(404)
    session[NEXT] = safe_next(request.args.get("next"))
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
    client = _client()
    if client is None:
        abort(404)
    settings = current_app.config["PONTE"]
    try:
        token = client.authorize_access_token(claims_options=_id_token_rules(client, settings))
        if not token.get("userinfo"):
            raise ValueError("the provider's answer has no ID token")
    except (AuthlibBaseError, JoseError, RequestException, ValueError, KeyError, OSError) as exc:
        log.warning("OIDC sign-in refused: %s", exc)
        audit("login_failed", ip=client_ip(), detail=f"oidc: {str(exc)[:400]}")
        db.session.commit()
        flash(_(REFUSED), "error")
        return redirect(url_for("auth.login"))
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
        return redirect(url_for("auth.login"))
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
