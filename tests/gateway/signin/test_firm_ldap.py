"""Two firms, two real directories (issue 17): the default firm's LDAP is the gateway's settings
(slapd A), firm "bianchi" has its own (slapd B, where bob's password is another), set by the
provider; a third firm has none. Each person's password is checked by their own firm's
directory only; the firm's settings are stored sealed, shown without secrets, checked like the
gateway's own; the provider's page sets them, a firm's admin cannot.
"""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import select

from gateway import ops, tenancy
from gateway.errors import AdminError
from gateway.extensions import db
from gateway.models import AuditEvent, OrganisationSignin
from gateway.ops.organisations import create_organisation, get_organisation
from gateway.signin import firms
from gateway.signin.accounts import set_signin_method
from tests.support.slapd import BASE, PASSWORDS, PEOPLE, Slapd
from tests.support.web import AuthActions, csrf_from

BOB_AT_B = "bob-at-bianchi-7"


@pytest.fixture(scope="module")
def slapd_b(tmp_path_factory, slapd):
    """A second directory, the same people, but bob's password there is ``BOB_AT_B``."""
    server = Slapd.start(tmp_path_factory.mktemp("slapd-b"))
    subprocess.run(["ldappasswd", "-x", "-H", f"ldap://127.0.0.1:{server.port}", "-D", f"cn=admin,{BASE}",
                    "-w", "admin-secret-1", "-s", BOB_AT_B, f"uid=bob,{PEOPLE}"], check=True, capture_output=True)
    yield server
    server.stop()


def _form_values(server: Slapd) -> dict:
    values = {k: v for k, v in server.settings().items() if k in firms.TEXT_FIELDS + firms.FLAG_FIELDS}
    values["ldap_group_map"] = "\n".join(server.settings()["ldap_group_map"])
    values["ldap_bind_password"] = server.settings()["ldap_bind_password"]
    return values


@pytest.fixture
def app(make_app, slapd, slapd_b):
    app = make_app(**slapd.settings())
    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True)
        set_signin_method(ops.add_user("bob", "localpass-1"), "ldap", actor="boss")
        for slug in ("bianchi", "verdi"):
            org = create_organisation(slug.title(), slug=slug)
            with tenancy.acting_for(org.id):
                ops.add_user(f"{slug}-boss", "firmbosspass1", admin=True)
                set_signin_method(ops.add_user("bob", "localpass-1"), "ldap", actor="boss")
        with tenancy.across_organisations():
            firms.save(get_organisation("bianchi"), _form_values(slapd_b), actor="test")
    return app


def test_each_person_is_checked_by_their_own_firms_directory(app):
    default, bianchi, verdi = (AuthActions(app.test_client(), login_path=path)
                               for path in ("/login", "/o/bianchi/login", "/o/verdi/login"))
    assert default.login("bob", BOB_AT_B).status_code == 401            # B's password is not A's
    assert default.login("bob", PASSWORDS["bob"]).status_code == 302     # A: the gateway's directory
    assert bianchi.login("bob", PASSWORDS["bob"]).status_code == 401      # A's password is not B's
    assert bianchi.login("bob", BOB_AT_B).status_code == 302
    me = bianchi.client.get("/api/v1/me").get_json()["user"]
    with app.app_context(), tenancy.acting_for(get_organisation("bianchi").id):
        assert me["id"] == ops.get_user("bob").id
        assert sorted(g.name for g in ops.get_user("bob").groups) == ["everyone"]   # B's map, B's groups
    # A firm without a directory never falls back to the gateway's (the default firm's company).
    assert verdi.login("bob", PASSWORDS["bob"]).status_code == 401
    assert "Sign in with" not in app.test_client().get("/o/verdi/login").get_data(as_text=True)
    verdi_admin = AuthActions(app.test_client(), login_path="/o/verdi/login")
    assert verdi_admin.login("verdi-boss", "firmbosspass1").status_code == 302
    assert "impostati dal fornitore" in verdi_admin.client.get("/admin/settings").get_data(as_text=True)   # its language


def test_the_firms_secrets_are_sealed_and_never_shown(app, slapd_b):
    password = slapd_b.settings()["ldap_bind_password"]
    with app.app_context(), tenancy.across_organisations():
        row = db.session.scalar(select(OrganisationSignin))
        assert row.ldap_bind_password_sealed and password not in row.ldap_bind_password_sealed
        shown = firms.describe(row.organisation_id)
        assert shown["ldap_bind_password_set"] is True and password not in repr(shown)
        # Saving without the secret keeps it; the audit names what changed, never the secret.
        assert firms.save(get_organisation("bianchi"), {"ldap_user_filter": "(uid={name})"},
                          actor="test") == ["ldap_user_filter"]
        assert firms.settings_for(row.organisation_id).ldap_bind_password == password
        details = list(db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "organisation_signin")))
        assert details and not any(password in d for d in details)
    assert AuthActions(app.test_client(), login_path="/o/bianchi/login").login("bob", BOB_AT_B).status_code == 302


@pytest.mark.parametrize("values,why", [
    ({"ldap_url": "ldap://dir.example", "ldap_starttls": False}, "StartTLS"),
    ({"ldap_url": "http://dir.example", "ldap_user_base": BASE}, "ldaps://"),
    ({"ldap_url": "ldaps://dir.example", "ldap_user_base": ""}, "base"),
    ({"oidc_issuer": "http://login.example.com", "oidc_client_id": "x"}, "https://"),
    ({"oidc_issuer": "https://login.example.com", "oidc_client_id": " "}, "client id"),
    ({"oidc_label": "a\x00b"}, "control"),
    ({"oidc_label": "x" * 81}, "too long"),
])
def test_bad_settings_are_refused_and_nothing_changes(app, values, why):
    with app.app_context(), tenancy.across_organisations():
        before = firms.describe(get_organisation("bianchi").id)
        with pytest.raises(AdminError, match=why):
            firms.save(get_organisation("bianchi"), values, actor="test")
        db.session.rollback()
        assert firms.describe(get_organisation("bianchi").id) == before
        with pytest.raises(AdminError, match="gateway's settings"):
            firms.save(get_organisation("default"), {"ldap_url": ""}, actor="test")


def test_the_provider_sets_a_firms_directory_on_its_page_and_a_firms_admin_cannot(app, slapd_b):
    with app.app_context():
        boss = ops.get_user("boss")
        boss.is_operator = True
        db.session.commit()
        verdi = get_organisation("verdi").id
    operator = AuthActions(app.test_client())
    assert operator.login("boss", "bosspass1").status_code == 302
    listing = operator.client.get("/provider/").get_data(as_text=True)
    assert 'id="signin-verdi"' in listing
    page = operator.client.get(f"/provider/signin?organisation={verdi}")
    assert page.status_code == 200 and 'name="ldap_bind_password"' in page.get_data(as_text=True)
    assert operator.client.get("/provider/signin?organisation=1").status_code == 404   # the gateway's
    form = {**{k: ("1" if v is True else "" if v is False else v) for k, v in _form_values(slapd_b).items()},
            "csrf_token": csrf_from(page.get_data(as_text=True)), "organisation": str(verdi)}
    bad = operator.client.post("/provider/signin", data={**form, "ldap_url": "ldap://x", "ldap_starttls": ""})
    assert bad.status_code == 400 and "StartTLS" in bad.get_data(as_text=True)
    assert operator.client.post("/provider/signin", data=form).status_code == 302
    assert AuthActions(app.test_client(), login_path="/o/verdi/login").login("bob", BOB_AT_B).status_code == 302
    shown = operator.client.get(f"/provider/signin?organisation={verdi}").get_data(as_text=True)
    assert slapd_b.settings()["ldap_bind_password"] not in shown and "leave empty to keep it" in shown

    firm_admin = AuthActions(app.test_client(), login_path="/o/verdi/login")
    assert firm_admin.login("verdi-boss", "firmbosspass1").status_code == 302
    settings_page = firm_admin.client.get("/admin/settings").get_data(as_text=True)
    assert "Con la directory aziendale (LDAP)" in settings_page and "(OIDC), per le persone" not in settings_page
    assert firm_admin.client.get(f"/provider/signin?organisation={verdi}").status_code == 403
    assert firm_admin.client.post("/provider/signin", data={**form, "csrf_token": firm_admin.csrf,
                                                            "ldap_url": ""}).status_code == 403
    with app.app_context():
        assert firms.settings_for(verdi).ldap_url == slapd_b.settings()["ldap_url"]
