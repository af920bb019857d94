"""Each firm's own company sign-in (issue 17): its OpenID provider, its LDAP directory.

The default organisation signs in with the gateway's settings (``gateway.toml``: a single-firm
install is unchanged). Another firm has only local passwords until the provider's operator sets
its own provider or directory (``python -m gateway org signin``, ``/provider/signin``); it never
falls back to the gateway's, which are the default firm's company.

``settings_for(org)`` is the gateway's settings with every ``ldap_*`` / ``oidc_*`` field
replaced by the firm's (``OrganisationSignin``): ``ldap.authenticate`` and ``oidc`` then work as
for one firm, with that firm's issuer, client and directory only. The client secret and the
service account's password are sealed at rest (``sealing``, a purpose of their own) and never
shown back: a form or command that leaves them empty keeps them.

Only the provider's operators set these, not a firm's admin: the gateway connects to the URL
given, from the provider's network, so it is the provider's to allow (a firm's admin could
otherwise point it at the provider's own internal services).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from .. import tenancy
from ..config import LOOPBACK_NAMES, GatewaySettings
from ..errors import AdminError, SealError
from ..extensions import db
from ..models import Organisation, OrganisationSignin, audit, utcnow
from ..sealing import seal, unseal

log = logging.getLogger(__name__)

PURPOSE = "ponte organisation signin v1"

#: What a firm may set, as typed (text); the two secrets are below.
TEXT_FIELDS = ("oidc_issuer", "oidc_client_id", "oidc_label", "oidc_group_map",
               "ldap_url", "ldap_ca_file", "ldap_bind_dn", "ldap_user_base", "ldap_user_filter",
               "ldap_group_base", "ldap_disabled_filter", "ldap_group_map")
FLAG_FIELDS = ("oidc_create_users", "ldap_starttls")
SECRET_FIELDS = {"oidc_client_secret": "oidc_client_secret_sealed", "ldap_bind_password": "ldap_bind_password_sealed"}
MAP_FIELDS = ("oidc_group_map", "ldap_group_map")
#: The gateway's fields that stay the gateway's for every firm (timeouts, claims' names).
KEPT = ("ldap_timeout", "oidc_scopes", "oidc_username_claim", "oidc_groups_claim")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(GatewaySettings)}
LONGEST = {"oidc_label": 80, "oidc_group_map": 4000, "ldap_group_map": 4000}


def _row(org_id: int) -> OrganisationSignin | None:
    with tenancy.acting_for(org_id):
        return db.session.scalar(select(OrganisationSignin))


def settings_for(org_id: int) -> GatewaySettings:
    """The settings ``ldap`` and ``oidc`` use for people of ``org_id``."""
    base: GatewaySettings = current_app.config["PONTE"]
    if org_id == tenancy.DEFAULT:
        return base
    own = {name: value for name, value in _DEFAULTS.items()
           if name.startswith(("ldap_", "oidc_")) and name not in KEPT}
    row = _row(org_id)
    if row is not None:
        for name in TEXT_FIELDS + FLAG_FIELDS:
            value = getattr(row, name)
            if name in MAP_FIELDS:
                value = tuple(line.strip() for line in value.splitlines() if line.strip())
            if value not in ("", ()) or name in FLAG_FIELDS:
                own[name] = value
        try:
            for name, column in SECRET_FIELDS.items():
                sealed = getattr(row, column)
                own[name] = unseal(sealed, base.secret_key, PURPOSE) if sealed else ""
        except SealError:
            # Sealed under another SECRET_KEY: both methods off until the operator sets them again.
            log.warning("organisation %s: its sign-in secrets do not open under this key", org_id)
            own["oidc_issuer"] = own["ldap_url"] = ""
    return dataclasses.replace(base, **own)


def methods(org_id: int) -> dict[str, bool]:
    """Which company methods the firm has (local passwords always)."""
    settings = settings_for(org_id)
    return {"oidc": bool(settings.oidc_issuer), "ldap": bool(settings.ldap_url)}


def describe(org_id: int) -> dict:
    """What the operator sees: every field but the secrets, which are only "set" or not."""
    row = _row(org_id)
    shown = {name: getattr(row, name) if row is not None else _blank(name) for name in TEXT_FIELDS + FLAG_FIELDS}
    shown.update({f"{name}_set": bool(row is not None and getattr(row, column))
                  for name, column in SECRET_FIELDS.items()})
    return shown


def _blank(name: str):
    return False if name in FLAG_FIELDS else ""


def _clean(name: str, value: str) -> str:
    value = (value or "").strip()
    if len(value) > LONGEST.get(name, 255):
        raise AdminError(_("%(field)s is too long.", field=name))
    allowed_breaks = "\n\r" if name in MAP_FIELDS else ""
    if any(ord(c) < 32 and c not in allowed_breaks for c in value):
        raise AdminError(_("%(field)s has control characters.", field=name))
    return value


def check(values: dict) -> None:
    """The rules of the gateway's own settings (``config._check_signin``), for a firm's."""
    url = values.get("ldap_url", "")
    if url:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("ldap", "ldaps") or not urlsplit(url).hostname:
            raise AdminError(_("The directory's address must be ldaps://host or ldap://host."))
        if scheme == "ldap" and not values.get("ldap_starttls"):
            raise AdminError(_("An ldap:// directory needs StartTLS: passwords must not cross in clear."))
        if not values.get("ldap_user_base"):
            raise AdminError(_("The directory needs the base where its people are."))
    issuer = values.get("oidc_issuer", "")
    if issuer:
        parts = urlsplit(issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname or \
                (parts.scheme == "http" and parts.hostname not in LOOPBACK_NAMES):
            raise AdminError(_("The OpenID provider's address must be an https:// URL."))
        if not values.get("oidc_client_id"):
            raise AdminError(_("The OpenID provider needs the client id Ponte has there."))


def save(org: Organisation, values: dict, *, actor: str = "cli", ip: str = "") -> list[str]:
    """Set the firm's sign-in to ``values`` (fields not given are unchanged; an empty secret is
    kept). Audited in the provider's log (names of what changed, never a secret). Returns them."""
    if org.id == tenancy.DEFAULT:
        raise AdminError(_("The default organisation signs in with the gateway's settings (gateway.toml)."))
    secret_key = current_app.config["PONTE"].secret_key
    with tenancy.acting_for(org.id):
        row = db.session.scalar(select(OrganisationSignin))
        if row is None:
            row = OrganisationSignin(organisation_id=org.id)
            db.session.add(row)
        wanted = {name: getattr(row, name) if getattr(row, name) is not None else _blank(name)
                  for name in TEXT_FIELDS + FLAG_FIELDS}
        for name in TEXT_FIELDS:
            if values.get(name) is not None:
                wanted[name] = _clean(name, values[name])
        for name in FLAG_FIELDS:
            if values.get(name) is not None:
                wanted[name] = bool(values[name])
        check(wanted)
        changed = [name for name in wanted if getattr(row, name) != wanted[name]]
        for name, value in wanted.items():
            setattr(row, name, value)
        for name, column in SECRET_FIELDS.items():
            secret = values.get(name) or ""
            if secret:
                if len(secret) > 1024:
                    raise AdminError(_("%(field)s is too long.", field=name))
                setattr(row, column, seal(secret, secret_key, PURPOSE))
                changed.append(name)
        if not wanted["oidc_issuer"] and row.oidc_client_secret_sealed:
            row.oidc_client_secret_sealed = ""   # the method off: its secret goes with it
        if not wanted["ldap_url"] and row.ldap_bind_password_sealed:
            row.ldap_bind_password_sealed = ""
        row.updated_at, row.updated_by = utcnow(), actor[:64]
        db.session.flush()
    with tenancy.acting_for(tenancy.DEFAULT):   # the provider's audit log is the default firm's
        audit("organisation_signin", actor=actor, ip=ip, target=f"organisation:{org.slug}",
              detail=", ".join(changed) or "unchanged")
        db.session.commit()
    return changed


def secret_digest(settings: GatewaySettings) -> str:
    """A short digest of what an OpenID client is made of: a changed secret is a new client."""
    material = "\0".join((settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret))
    return hashlib.sha256(material.encode()).hexdigest()[:16]
