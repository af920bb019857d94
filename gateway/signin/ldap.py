"""LDAP / Active Directory sign-in (ldap3): search with a service account, then bind as the person.

One sign-in, all within ``ldap_timeout`` per step and off the gevent loop (``loop.off_loop``):

1. connect (``ldaps://``, or ``ldap://`` + StartTLS; the certificate is verified against
   ``ldap_ca_file`` or the system's CAs, and its name against the URL's host),
2. bind as the service account and search ``ldap_user_base`` with ``ldap_user_filter``
   (the typed name escaped, RFC 4515): exactly one entry, or the name is unknown,
3. refuse a disabled account: AD's ``userAccountControl`` ACCOUNTDISABLE bit, or an
   entry matching ``ldap_disabled_filter`` (OpenLDAP has no standard flag),
4. bind as that entry's DN with the typed password (never an empty one: RFC 4513 §5.1.2
   makes that an anonymous bind that "succeeds"),
5. collect the person's groups: ``memberOf`` on their entry (AD, OpenLDAP's memberof
   overlay) and the groups under ``ldap_group_base`` matching ``ldap_group_filter``.

The caller maps the groups to Ponte groups (``groups.sync_groups``) in the login.
"""

from __future__ import annotations

import logging
import math
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from ..config import GatewaySettings
from ..errors import AccountDisabled, DirectoryError

log = logging.getLogger(__name__)

#: Active Directory's userAccountControl flag of a disabled account (MS-ADTS 2.2.16).
ACCOUNTDISABLE = 0x2
USER_ATTRIBUTES = ("memberOf", "userAccountControl", "mail", "displayName", "cn")


@dataclass(frozen=True)
class Identity:
    """What the directory says about a person whose password it accepted."""

    dn: str
    groups: tuple[str, ...]     # DNs and cns of the person's groups
    email: str = ""
    display_name: str = ""


def _server(settings: GatewaySettings) -> Server:
    url = urlsplit(settings.ldap_url)
    tls = Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT,
              ca_certs_file=settings.ldap_ca_file or None)
    secure = url.scheme.lower() == "ldaps"
    return Server(url.hostname, port=url.port or (636 if secure else 389), use_ssl=secure, tls=tls,
                  get_info=NONE, connect_timeout=settings.ldap_timeout)


def _connect(settings: GatewaySettings, server: Server, user: str, password: str) -> Connection | None:
    """An open, TLS-protected connection bound as ``user``; ``None`` if the bind is refused."""
    # ldap3 packs receive_timeout into SO_RCVTIMEO as whole seconds.
    conn = Connection(server, user=user, password=password, receive_timeout=max(1, math.ceil(settings.ldap_timeout)),
                      raise_exceptions=False, read_only=True, auto_bind=False)
    conn.open()
    if settings.ldap_starttls and not server.ssl and not conn.start_tls():
        conn.unbind()
        raise DirectoryError(f"StartTLS refused by {settings.ldap_url}: {conn.result}")
    if not conn.bind():
        conn.unbind()
        return None
    return conn


def _entries(conn: Connection) -> list[dict]:
    return [r for r in (conn.response or []) if r.get("type") == "searchResEntry"]


def _first(attributes: dict, name: str) -> str:
    value = attributes.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value) if value not in (None, "") else ""


def _disabled(settings: GatewaySettings, conn: Connection, dn: str, attributes: dict) -> bool:
    control = _first(attributes, "userAccountControl")
    if control.lstrip("-").isdigit() and int(control) & ACCOUNTDISABLE:
        return True
    if settings.ldap_disabled_filter:
        conn.search(dn, settings.ldap_disabled_filter, search_scope=BASE, attributes=[])
        return bool(_entries(conn))
    return False


def _groups(settings: GatewaySettings, conn: Connection, dn: str, attributes: dict) -> tuple[str, ...]:
    found = [str(g) for g in attributes.get("memberOf") or []]
    if settings.ldap_group_base:
        conn.search(settings.ldap_group_base, settings.ldap_group_filter.format(dn=escape_filter_chars(dn)),
                    search_scope=SUBTREE, attributes=["cn"])
        for entry in _entries(conn):
            found.append(entry["dn"])
            found.extend(str(cn) for cn in entry["attributes"].get("cn") or [])
    # A memberOf DN also answers to its cn (the map may name either).
    for group_dn in list(found):
        first = group_dn.split(",", 1)[0]
        if first.lower().startswith("cn="):
            found.append(first[3:])
    return tuple(dict.fromkeys(found))


def authenticate(settings: GatewaySettings, name: str, password: str) -> Identity | None:
    """The directory's ``Identity`` for ``name`` if ``password`` is theirs, else ``None``.

    Raises ``AccountDisabled`` for a disabled account (after the password check
    only, so it says nothing to a guesser), ``DirectoryError`` when the directory
    cannot be used. Blocking: call it through ``loop.off_loop``.
    """
    if not password:
        return None
    server = _server(settings)
    try:
        service = _connect(settings, server, settings.ldap_bind_dn, settings.ldap_bind_password)
        if service is None:
            raise DirectoryError(f"the directory refused the service account {settings.ldap_bind_dn!r}")
        try:
            service.search(settings.ldap_user_base, settings.ldap_user_filter.format(name=escape_filter_chars(name)),
                           search_scope=SUBTREE, attributes=list(USER_ATTRIBUTES), size_limit=2)
            found = _entries(service)
            if len(found) != 1:   # nobody, or an ambiguous filter: never guess who
                return None
            dn, attributes = found[0]["dn"], found[0]["attributes"]
            person = _connect(settings, server, dn, password)
            if person is None:
                return None
            person.unbind()
            if _disabled(settings, service, dn, attributes):
                raise AccountDisabled(dn)
            return Identity(dn=dn, groups=_groups(settings, service, dn, attributes),
                            email=_first(attributes, "mail"),
                            display_name=_first(attributes, "displayName") or _first(attributes, "cn"))
        finally:
            service.unbind()
    except LDAPException as exc:
        raise DirectoryError(f"LDAP {settings.ldap_url}: {exc}") from exc
