"""WebAuthn (passkeys, security keys) with the ``webauthn`` package.

Each ceremony is two requests: options (a fresh challenge kept in the Flask
session, so it is single-use and bound to this browser), then the browser's
answer, verified against that challenge, the relying-party id (the gateway's
host name) and origin (the gateway's external URL, ``headers.external_url``).
The user handle is an HMAC of the user id under the app's secret key: stable
per person, meaningless elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit

import webauthn
from flask import current_app, session
from flask_babel import gettext as _
from sqlalchemy import select
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria, AuthenticatorTransport, PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement, UserVerificationRequirement)

from ..extensions import db
from ..headers import external_url
from ..models import Passkey, User, utcnow
from ..errors import PasskeyError

RP_NAME = "Ponte"
CHALLENGE = "ponte_webauthn"
CHALLENGE_TTL = 300   # seconds from options to answer
TIMEOUT_MS = 120_000


def _origin() -> str:
    return external_url(current_app.config["PONTE"])


def _rp_id() -> str:
    return urlsplit(_origin()).hostname or ""


def user_handle(user: User) -> bytes:
    key = current_app.config["SECRET_KEY"]
    return hmac.new(key.encode() if isinstance(key, str) else key, f"webauthn-user:{user.id}".encode(),
                    hashlib.sha256).digest()


def _keep_challenge(kind: str, challenge: bytes, user_id: int | None) -> None:
    session[CHALLENGE] = {"kind": kind, "challenge": bytes_to_base64url(challenge), "user": user_id,
                          "at": time.time()}


def _take_challenge(kind: str, user_id: int | None) -> bytes:
    held = session.pop(CHALLENGE, None)
    if not isinstance(held, dict) or held.get("kind") != kind or held.get("user") != user_id \
            or not 0 <= time.time() - float(held.get("at", 0)) < CHALLENGE_TTL:
        raise PasskeyError(_("That took too long, or the page was old. Try again."))
    return webauthn.base64url_to_bytes(held["challenge"])


def _descriptor(p: Passkey) -> PublicKeyCredentialDescriptor:
    known = {t.value: t for t in AuthenticatorTransport}
    return PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(p.credential_id),
                                         transports=[known[t] for t in p.transports.split(",") if t in known] or None)


def registration_options(user: User) -> str:
    """JSON options for ``navigator.credentials.create`` (a discoverable credential, so it can
    also sign in without a password where the admin allows)."""
    existing = db.session.scalars(select(Passkey).where(Passkey.user_id == user.id)).all()
    options = webauthn.generate_registration_options(
        rp_id=_rp_id(), rp_name=RP_NAME, user_name=user.name, user_id=user_handle(user),
        user_display_name=user.name, timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[_descriptor(p) for p in existing])
    _keep_challenge("register", options.challenge, user.id)
    return webauthn.options_to_json(options)


def verify_registration(user: User, credential: dict, name: str) -> Passkey:
    """A new ``Passkey`` row (not added) from the browser's answer, or ``PasskeyError``."""
    challenge = _take_challenge("register", user.id)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=_rp_id(),
            expected_origin=_origin())
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(_("The passkey could not be verified. Try again.")) from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)) is not None:
        raise PasskeyError(_("That passkey is registered already."))
    transports = credential.get("response", {}).get("transports") if isinstance(credential, dict) else None
    return Passkey(user_id=user.id, name=name, credential_id=credential_id,
                   public_key=verified.credential_public_key, sign_count=verified.sign_count,
                   transports=",".join(t for t in (transports or []) if isinstance(t, str))[:255])


def authentication_options(user: User | None) -> str:
    """JSON options for ``navigator.credentials.get``: ``user``'s passkeys (second factor), or
    any discoverable one (``user`` None: instead of the password, user verification required)."""
    allowed = db.session.scalars(select(Passkey).where(Passkey.user_id == user.id)).all() if user else []
    options = webauthn.generate_authentication_options(
        rp_id=_rp_id(), timeout=TIMEOUT_MS, allow_credentials=[_descriptor(p) for p in allowed],
        user_verification=UserVerificationRequirement.PREFERRED if user else UserVerificationRequirement.REQUIRED)
    _keep_challenge("login", options.challenge, user.id if user else None)
    return webauthn.options_to_json(options)


def verify_authentication(user: User | None, credential: dict) -> Passkey:
    """The passkey that signed the challenge (of ``user`` when given), its counter updated."""
    challenge = _take_challenge("login", user.id if user else None)
    raw_id = credential.get("id") if isinstance(credential, dict) else None
    found = db.session.scalar(select(Passkey).where(Passkey.credential_id == raw_id)) \
        if isinstance(raw_id, str) else None
    if found is None or (user is not None and found.user_id != user.id):
        raise PasskeyError(_("That passkey is not registered here."))
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=_rp_id(),
            expected_origin=_origin(), credential_public_key=found.public_key,
            credential_current_sign_count=found.sign_count, require_user_verification=user is None)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(_("The passkey could not be verified. Try again.")) from exc
    found.sign_count, found.last_used_at = verified.new_sign_count, utcnow()
    return found


def parse(body: bytes | str | None) -> dict:
    try:
        value = json.loads(body or b"")
    except ValueError as exc:
        raise PasskeyError(_("The browser's answer was not readable.")) from exc
    if not isinstance(value, dict):
        raise PasskeyError(_("The browser's answer was not readable."))
    return value
