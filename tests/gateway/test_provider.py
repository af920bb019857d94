"""Per organisation (issue 17): a firm's own login page, host name, name, language, limits; the
provider's operators and their audited page; ``python -m gateway org …`` and ``--organisation``."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gateway import branding, ops, tenancy
from gateway.extensions import db
from gateway.models import AuditEvent, Organisation, SessionRecord, User, utcnow
from gateway.ops.org_limits import LimitReached, usage
from gateway.ops.organisations import create_organisation
from gateway.signin.accounts import add_invited_user
from tests.support.web import AuthActions


@pytest.fixture
def firm(app, users):
    """Firm B ("bianchi", English pages) with an admin "boss" (the default firm has one too)."""
    with app.app_context():
        org = create_organisation("Bianchi Srl", slug="bianchi", language="en").id
        with tenancy.acting_for(org):
            ops.add_user("boss", "bbosspass12", admin=True)
            branding.save("Bianchi Srl", None, actor="boss", ip="")
    return org


def test_a_firms_login_page_is_its_own(app, firm):
    client = app.test_client()
    # The same name in both firms: each login page finds its own firm's person.
    b = AuthActions(client, login_path="/o/bianchi/login")
    assert b.login("boss", "bosspass1").status_code == 401       # the default firm's password
    assert b.login("boss", "bbosspass12").status_code == 302
    assert client.get("/api/v1/me").get_json()["user"]["name"] == "boss"
    page = client.get("/admin/users").get_data(as_text=True)
    assert "emp" not in re.findall(r"<td>(?:<a[^>]*>)?([^<]+)", page)   # the default firm's people are not there
    assert app.test_client().get("/o/no-such-firm/login").status_code == 404


def test_a_firms_pages_carry_its_name_and_language(app, firm):
    italian = {"Accept-Language": "it"}
    own = app.test_client().get("/o/bianchi/login", headers=italian).get_data(as_text=True)
    assert "Bianchi Srl" in own and "Log in" in own           # its name; its language before the browser's
    default = app.test_client().get("/login", headers=italian).get_data(as_text=True)
    assert "Bianchi Srl" not in default and "Accedi" in default   # the default firm: as before


def test_a_firms_host_name_opens_its_login(app, firm):
    with app.app_context(), tenancy.across_organisations():
        db.session.get(Organisation, firm).hostname = "remote.bianchi.test"
        db.session.commit()
    app.extensions["ponte.hostnames"]._until = 0   # the 30 s cache, read again now
    client = app.test_client()
    assert "Bianchi Srl" in client.get("/login", base_url="http://remote.bianchi.test").get_data(as_text=True)
    assert "Bianchi Srl" not in app.test_client().get("/login").get_data(as_text=True)


def test_invited_person_joins_the_acting_firm(app, firm):
    with app.app_context():
        with tenancy.acting_for(firm):
            person = add_invited_user("anna", email="anna@bianchi.test")
            assert person.organisation_id == firm
        assert db.session.scalar(select(User.id).where(User.name == "anna")) is None   # not the default firm's


def test_limits_the_provider_sets_are_kept(app, firm, login):
    with app.app_context():
        with tenancy.across_organisations():
            org = db.session.get(Organisation, firm)
            org.max_pcs, org.max_sessions = 1, 0
            db.session.commit()
        with tenancy.acting_for(firm):
            pc, _ = ops.add_machine("b-pc")
            with pytest.raises(LimitReached):
                ops.add_machine("b-pc-2")
            person = ops.add_user("b-emp", "bemppass12")
            ops.grant(person, pc)
        ops.add_machine("desk-9")   # the default firm has no limit
    client = app.test_client()
    assert AuthActions(client, login_path="/o/bianchi/login").login("b-emp", "bemppass12").status_code == 302
    resp = client.post("/api/v1/machines/b-pc/sessions", json={},
                       headers={"X-CSRFToken": AuthActions(client).csrf or _csrf(client)})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "organisation_limit"


def _csrf(client) -> str:
    from tests.support.web import csrf_from

    return csrf_from(client.get("/").get_data(as_text=True))


def test_operators_see_every_firm_audited_and_admins_do_not(app, firm, login, cli):
    with app.app_context():
        with tenancy.acting_for(firm):
            db.session.add(SessionRecord(id="b" * 32, user_name="boss", machine_name="b-pc", started_at=utcnow(),
                                         ended_at=utcnow(), bytes_to_viewer=1000, bytes_from_viewer=24))
            db.session.commit()
        assert usage()[firm].sessions == 1 and usage()[firm].bytes == 1024
        boss = ops.get_user("boss")
        admin = login("boss")
        assert admin.client.get("/provider/").status_code == 403     # a firm's admin is not the provider
        boss.is_operator = True
        db.session.commit()
    page = admin.client.get("/provider/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Bianchi Srl" in text and "/o/bianchi/login" in text
    resp = admin.client.post("/provider/limits", data={"csrf_token": admin.csrf, "organisation": str(firm),
                                                       "max_pcs": "5", "max_sessions": ""})
    assert resp.status_code == 302
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert "provider_view" in actions and "organisation_limits" in actions
        with tenancy.across_organisations():
            org = db.session.get(Organisation, firm)
            assert (org.max_pcs, org.max_sessions) == (5, None)


def test_cli_adds_firms_works_in_one_and_lists_their_figures(cli):
    assert "/o/rossi/login" in cli("org", "add", "Rossi SpA", "--slug", "rossi", "--max-pcs", "2")
    cli("--organisation", "rossi", "machine", "add", "front-desk")
    assert "front-desk" in cli("--organisation", "rossi", "machine", "list")
    assert "front-desk" not in cli("machine", "list")            # the default firm's
    cli("org", "set-limits", "rossi", "--max-sessions", "3")
    listing = cli("org", "list")
    assert re.search(r"rossi\tRossi SpA\tpcs≤2 sessions≤3\t0 people\t1 PCs", listing), listing
    assert "no organisation" in cli("--organisation", "nobody", "machine", "list", ok=False).lower()


def test_login_attacks_are_each_firms_own(tmp_path, redis_server, prefix):
    """The same name guessed at two firms' logins: two accounts, each firm's admin sees its own."""
    from gateway import create_app
    from tests.support.web import csrf_from

    app = create_app({"instance_path": str(tmp_path / "i"), "redis_url": redis_server, "redis_prefix": prefix,
                      "login_limit": "1000 per minute", "login_delay_max": 0.01,
                      "network_login_limit": "3 per 15 minutes", "account_login_limit": "5 per hour"})
    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True)
        b = create_organisation("Bianchi Srl", slug="bianchi").id
        with tenancy.acting_for(b):
            ops.add_user("boss", "bbosspass12", admin=True)
            ops.add_user("mario", "mariopass12")
    for n in range(8):   # "mario" guessed at firm B's login from four networks
        client = app.test_client()
        env = {"REMOTE_ADDR": f"10.{n % 4}.0.1"}
        page = client.get("/o/bianchi/login", environ_base=env).get_data(as_text=True)
        client.post("/o/bianchi/login", environ_base=env,
                    data={"csrf_token": csrf_from(page), "name": "mario", "password": "wrong-password"})
    seen = {}
    for path, password in (("/login", "bosspass1"), ("/o/bianchi/login", "bbosspass12")):
        client = app.test_client()
        assert AuthActions(client, login_path=path).login("boss", password).status_code == 302
        seen[path] = ([a["account"] for a in client.get("/api/v1/login-attacks").get_json()["attacks"]],
                      {u["name"]: u["under_attack"] for u in client.get("/api/v1/users").get_json()["users"]})
    assert seen["/login"][0] == [] and "mario" not in seen["/login"][1]
    assert seen["/o/bianchi/login"][0] == ["mario"] and seen["/o/bianchi/login"][1]["mario"] is True


def test_cli_sets_a_firms_host_name_disables_it_and_sets_its_signin(cli, tmp_path, redis_server, prefix):
    from gateway import create_app

    cli("org", "add", "Rossi SpA", "--slug", "rossi")
    cli("org", "add", "Verdi", "--slug", "verdi")
    assert "host name remote.rossi.test" in cli("org", "set-hostname", "rossi", "Remote.Rossi.TEST.")
    assert "another organisation's" in cli("org", "set-hostname", "verdi", "remote.rossi.test", ok=False)
    for junk in ("not a host", "x-.test", "a..b", "x" * 300, "rossi"):
        assert "not a host name" in cli("org", "set-hostname", "verdi", junk, ok=False)
    app = create_app({"instance_path": str(tmp_path / "cli"), "redis_url": redis_server, "redis_prefix": prefix})
    from gateway import orgcontext

    with app.test_request_context("/login", base_url="http://remote.rossi.test"):
        from gateway.ops.organisations import get_organisation

        assert orgcontext.host_organisation() == get_organisation("rossi").id   # its login page there
    assert "disabled" in cli("org", "disable", "rossi")
    assert "(already)" in cli("org", "disable", "rossi")
    assert "rossi\tRossi SpA" in cli("org", "list") and "\tdisabled" in cli("org", "list")
    assert "cannot be disabled" in cli("org", "disable", "default", ok=False)
    assert "enabled" in cli("org", "enable", "rossi")
    assert "host name none" in cli("org", "set-hostname", "rossi", "none")

    shown = cli("org", "signin", "rossi", "--ldap-url", "ldaps://dc1.rossi.test", "--ldap-user-base", "ou=people",
                "--ldap-bind-dn", "cn=svc", "--ldap-bind-password", "svc-secret-9", "--ldap-group-map", "a => b",
                "--ldap-group-map", "c => d")
    assert "changed" in shown and "svc-secret-9" not in shown and "ldap_bind_password_set\tTrue" in shown
    assert "ldap_group_map\ta => b\nc => d" in shown
    assert "StartTLS" in cli("org", "signin", "rossi", "--ldap-url", "ldap://dc1.rossi.test", ok=False)
    assert "gateway's settings" in cli("org", "signin", "default", "--ldap-url", "", ok=False)
    assert "ldap_url\tldaps://dc1.rossi.test" in cli("org", "signin", "rossi")   # unchanged by the refusals
    with app.app_context():
        actions = [(e.action, e.target) for e in db.session.scalars(select(AuditEvent))]
    for action in ("organisation_hostname", "organisation_disabled", "organisation_enabled", "organisation_signin"):
        assert (action, "organisation:rossi") in actions
