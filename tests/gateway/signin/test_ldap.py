"""LDAP / Active Directory sign-in against a real OpenLDAP slapd (tests/support/slapd.py).

What a person sees: the same login page as everyone; their company password works,
their directory groups become Ponte groups, and a disabled directory account or a
wrong password gets the same "Wrong user name or password." as any other failure.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from sqlalchemy import select

from gateway import ops
from gateway.config import load_settings
from gateway.extensions import db
from gateway.models import AuditEvent
from gateway.signin.accounts import set_signin_method
from gateway.errors import DirectoryError
from gateway.errors import AccountDisabled
from gateway.signin.ldap import authenticate
from tests.support.web import AuthActions
from tests.support.slapd import BASE, GROUPS, PASSWORDS, PEOPLE


def settings_for(slapd, tmp_path, **changes):
    return load_settings(overrides={"instance_path": str(tmp_path / "s"), **slapd.settings(**changes)}, environ={})


@pytest.mark.parametrize("ldaps", [False, True], ids=["starttls", "ldaps"])
def test_search_then_bind_returns_the_person_and_groups(slapd, tmp_path, ldaps):
    identity = authenticate(settings_for(slapd, tmp_path, ldaps=ldaps), "alice", PASSWORDS["alice"])
    assert identity is not None
    assert identity.dn == f"uid=alice,{PEOPLE}"
    assert f"cn=sales,{GROUPS}" in identity.groups and "staff" in identity.groups
    assert identity.email == "alice@example.org" and identity.display_name == "Alice A."


@pytest.mark.parametrize("name,password", [
    ("alice", "wrong-password"), ("alice", ""), ("nobody", "whatever-1"),
    ("dup", "dup-pass-123"),          # two entries match: never guess which
    ("*", PASSWORDS["alice"]),        # the filter is escaped: no wildcard
    ("alice)(uid=*", PASSWORDS["alice"]),
])
def test_refused_credentials(slapd, tmp_path, name, password):
    assert authenticate(settings_for(slapd, tmp_path), name, password) is None


def test_disabled_account_is_refused_after_its_password(slapd, tmp_path):
    settings = settings_for(slapd, tmp_path)
    with pytest.raises(AccountDisabled):
        authenticate(settings, "carol", PASSWORDS["carol"])
    assert authenticate(settings, "carol", "not-her-password") is None   # a guesser learns nothing


def test_untrusted_certificate_is_refused(slapd, tmp_path):
    # Without the directory's CA the self-signed certificate does not verify: no bind in clear.
    with pytest.raises(DirectoryError):
        authenticate(settings_for(slapd, tmp_path, ldap_ca_file=""), "alice", PASSWORDS["alice"])
    with pytest.raises(DirectoryError):
        authenticate(settings_for(slapd, tmp_path, ldaps=True, ldap_ca_file=""), "alice", PASSWORDS["alice"])


def test_wrong_service_account_and_dead_directory(slapd, tmp_path):
    with pytest.raises(DirectoryError, match="service account"):
        authenticate(settings_for(slapd, tmp_path, ldap_bind_password="nope"), "alice", PASSWORDS["alice"])
    from tests.support import free_port

    started = time.monotonic()
    with pytest.raises(DirectoryError):
        authenticate(settings_for(slapd, tmp_path, ldap_url=f"ldap://127.0.0.1:{free_port()}", ldap_timeout=2.0),
                     "alice", PASSWORDS["alice"])
    assert time.monotonic() - started < 10


def test_plaintext_ldap_is_not_a_setting(tmp_path):
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match="in clear"):
        load_settings(overrides={"instance_path": str(tmp_path / "s"), "ldap_url": "ldap://localhost",
                                 "ldap_user_base": BASE}, environ={})


@pytest.fixture
def ldap_app(make_app, slapd):
    app = make_app(**slapd.settings())
    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True)
        for name in ("alice", "bob", "carol"):
            user = ops.add_user(name, "localpass-1")
            set_signin_method(user, "ldap", actor="boss")
        ops.add_user("dave", "davepass12")            # a local account beside them
        managed = ops.add_group("admins-own")         # a group the mapping never names
        ops.add_member(managed, ops.get_user("alice"))
        desk, _ = ops.add_machine("sales-desk")
        ops.grant(ops.add_group("sales-team"), desk)
    return app


def _groups(app, name):
    with app.app_context():
        return sorted(g.name for g in ops.get_user(name).groups)


def _ldapmodify(slapd, ldif: str):
    subprocess.run(["ldapmodify", "-x", "-H", f"ldap://127.0.0.1:{slapd.port}", "-D", f"cn=admin,{BASE}",
                    "-w", "admin-secret-1"], input=ldif.encode(), check=True, capture_output=True)


def test_login_form_with_directory_password_maps_groups_each_login(ldap_app, slapd):
    client = ldap_app.test_client()
    auth = AuthActions(client)
    assert auth.login("alice", "localpass-1").status_code == 401   # the local password is not hers any more
    resp = auth.login("alice", PASSWORDS["alice"])
    assert resp.status_code == 302
    assert _groups(ldap_app, "alice") == ["admins-own", "everyone", "sales-team"]
    assert "sales-desk" in client.get("/").get_data(as_text=True)
    auth.logout()

    # Taken out of "sales" in the directory: at her next login the Ponte group follows.
    _ldapmodify(slapd, f"dn: cn=sales,{GROUPS}\nchangetype: modify\ndelete: member\nmember: uid=alice,{PEOPLE}\n")
    try:
        assert auth.login("alice", PASSWORDS["alice"]).status_code == 302
        assert _groups(ldap_app, "alice") == ["admins-own", "everyone"]
        assert "sales-desk" not in client.get("/").get_data(as_text=True)
    finally:
        _ldapmodify(slapd, f"dn: cn=sales,{GROUPS}\nchangetype: modify\nadd: member\nmember: uid=alice,{PEOPLE}\n")
    with ldap_app.app_context():
        actions = [(e.action, e.actor, e.target) for e in db.session.scalars(select(AuditEvent))]
    assert ("group_member_remove", "ldap", "alice → sales-team") in actions


def test_disabled_directory_account_and_local_users(ldap_app):
    client = ldap_app.test_client()
    resp = AuthActions(client).login("carol", PASSWORDS["carol"])
    assert resp.status_code == 401 and "Wrong user name or password." in resp.get_data(as_text=True)
    with ldap_app.app_context():
        refused = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ldap_refused"))
        assert refused.target == "carol" and "disabled" in refused.detail
    # A local account is untouched by the directory; a directory password is not a local one.
    assert AuthActions(ldap_app.test_client()).login("dave", "davepass12").status_code == 302
    assert AuthActions(ldap_app.test_client()).login("boss", PASSWORDS["alice"]).status_code == 401


def test_revocation_ends_directory_logins(ldap_app):
    """Logout everywhere and disable apply to LDAP logins like to local ones."""
    first, second = ldap_app.test_client(), ldap_app.test_client()
    a1, a2 = AuthActions(first), AuthActions(second)
    assert a1.login("bob", PASSWORDS["bob"]).status_code == 302
    assert a2.login("bob", PASSWORDS["bob"]).status_code == 302
    assert first.post("/logout/everywhere", data={"csrf_token": a1.csrf}).status_code == 302
    assert second.get("/").status_code == 302   # the other browser is logged out too
    assert a2.login("bob", PASSWORDS["bob"]).status_code == 302
    with ldap_app.app_context():
        ops.set_disabled(ops.get_user("bob"), True, actor="boss")
    assert second.get("/").status_code == 302
    assert a2.login("bob", PASSWORDS["bob"]).status_code == 401   # the directory still says yes; Ponte no


def test_directory_down_fails_closed(make_app, slapd):
    from tests.support import free_port

    app = make_app(**slapd.settings(ldap_url=f"ldap://127.0.0.1:{free_port()}", ldap_timeout=1.0))
    with app.app_context():
        set_signin_method(ops.add_user("alice", "localpass-1"), "ldap")
    resp = AuthActions(app.test_client()).login("alice", PASSWORDS["alice"])
    assert resp.status_code == 401
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ldap_unavailable")) is not None


def test_directory_login_on_a_gevent_server(gateway_factory, slapd):
    """``python -m gateway serve`` (gevent, monkey-patched): the directory is asked from gevent's
    threadpool, and the login works as under the test client."""
    from tests.support import WebClient

    env = {f"PONTE_{k.upper()}": ("1" if v is True else "" if v is False else str(v))
           for k, v in slapd.settings().items() if k != "ldap_group_map"}
    gw = gateway_factory(**env, PONTE_LDAP_GROUP_MAP="staff => everyone")
    gw.cli("user", "add", "bob", input="localpass-1\n")
    assert "signs in with ldap" in gw.cli("user", "signin", "bob", "ldap")
    web = WebClient(gw.url, "bob", PASSWORDS["bob"])
    assert web.json("GET", "/api/v1/me")["user"]["name"] == "bob"
    with pytest.raises(Exception, match="401|[Ww]rong"):
        WebClient(gw.url, "bob", "localpass-1")


@pytest.mark.parametrize("control,disabled", [("512", False), ("514", True), ("66050", True), ("66048", False),
                                              ("junk", False)])
def test_active_directory_disabled_flag(tmp_path, control, disabled):
    """AD's userAccountControl ACCOUNTDISABLE bit (0x2) refuses the account whatever the filter."""
    from gateway.signin.ldap import _disabled

    settings = load_settings(overrides={"instance_path": str(tmp_path / "s"), "ldap_disabled_filter": ""},
                             environ={})
    assert _disabled(settings, None, "cn=x", {"userAccountControl": control}) is disabled


def test_changing_the_signin_method_ends_logins(ldap_app):
    client = ldap_app.test_client()
    assert AuthActions(client).login("dave", "davepass12").status_code == 302
    with ldap_app.app_context():
        assert set_signin_method(ops.get_user("dave"), "ldap", actor="boss")
    assert client.get("/").status_code == 302                      # that login is over
    assert AuthActions(client).login("dave", "davepass12").status_code == 401   # no directory entry for dave


def test_directory_admin_confirms_with_the_directory_password(ldap_app):
    """/reauth (admin changes after 30 minutes) asks the directory too, not a local hash."""
    with ldap_app.app_context():
        ops.set_admin(ops.get_user("alice"), True, actor="boss")
    client = ldap_app.test_client()
    auth = AuthActions(client)
    assert auth.login("alice", PASSWORDS["alice"]).status_code == 302
    wrong = client.post("/reauth", data={"csrf_token": auth.csrf, "password": "localpass-1"})
    assert wrong.status_code == 401
    right = client.post("/reauth", data={"csrf_token": auth.csrf, "password": PASSWORDS["alice"]})
    assert right.status_code == 302
