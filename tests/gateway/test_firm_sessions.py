"""A firm's sessions against its provider's limit, and a firm its provider disables (issue 17).

Every kind of session counts: a person's, a guest's through a share link, an admin's shadow.
Disabling a firm ends its people's logins (cookie and API token), its live sessions and its
agents' channels on every node (the node bus, here over the test's real Redis), refuses its
agents, guests and login page, and leaves every other firm alone.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway import nodebus, ops, tenancy
from gateway.extensions import db
from gateway.models import AuditEvent, Organisation
from gateway.ops import shares
from gateway.ops.organisations import create_organisation, set_disabled
from tests.support.records import add_live_session
from tests.support.web import AuthActions, csrf_from


def _limit(app, max_sessions, org=tenancy.DEFAULT):
    with app.app_context(), tenancy.across_organisations():
        db.session.get(Organisation, org).max_sessions = max_sessions
        db.session.commit()


def _guest(app, secret: str):
    guest = app.test_client()
    page = guest.get(f"/share/{secret}")
    assert guest.post(f"/share/{secret}", data={"csrf_token": csrf_from(page.get_data(as_text=True))}
                      ).status_code == 303
    csrf = csrf_from(guest.get("/login").get_data(as_text=True))
    return lambda: guest.post("/share/session", json={}, headers={"X-CSRFToken": csrf})


def test_guests_and_shadows_count_against_the_firms_sessions(app, world, login):
    """The world has two live sessions of the default firm (emp's and other's)."""
    with app.app_context():
        shares.set_sharing(True, actor="boss")
        link, secret = shares.create(ops.get_user("boss"), ops.get_machine("desk-boss"), view_only=True,
                                     minutes=60, max_uses=5, actor="boss")
    guest_ticket = _guest(app, secret)
    boss = login("boss")
    shadow = lambda: boss.client.post(f"/api/v1/sessions/{world.live['emp']}/shadow", json={},  # noqa: E731
                                      headers=boss.headers())
    own = lambda: boss.client.post("/api/v1/machines/desk-boss/sessions", json={},  # noqa: E731
                                   headers=boss.headers())

    def paired(resp, machine: str):
        """The ticket's session paired, as the relay then records it (a session counts from then)."""
        assert resp.status_code == 201, resp.get_json()
        session = resp.get_json()["session"]
        live = app.extensions["ponte.live"]
        with app.app_context():
            pc = ops.get_machine(machine)
            live.session_started(session, pc.id, {**live.session(session), "state": "live"})
        return session

    _limit(app, 2)   # full already
    for attempt in (guest_ticket, shadow, own):
        resp = attempt()
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "organisation_limit", resp.get_json()
    _limit(app, 3)
    paired(guest_ticket(), "desk-boss")           # the guest's session is the third …
    for attempt in (shadow, own, guest_ticket):   # … so neither a shadow nor anyone's own opens
        assert attempt().status_code == 409
    _limit(app, 4)
    paired(shadow(), "desk-1")                    # the admin's shadow, the fourth
    for attempt in (shadow, own, guest_ticket):
        assert attempt().status_code == 409
    _limit(app, None)
    assert own().status_code == 201


def test_another_firms_sessions_do_not_count(app, world, login):
    with app.app_context():
        other = create_organisation("Bianchi Srl", slug="bianchi", max_sessions=0).id
    _limit(app, 3)   # the default firm: two live, room for one
    boss = login("boss")
    assert boss.client.post("/api/v1/machines/desk-boss/sessions", json={},
                            headers=boss.headers()).status_code == 201
    with app.app_context():
        assert db.session.get(Organisation, other).max_sessions == 0


@pytest.fixture
def bianchi(app, world):
    """Firm B: admin "boss" (her own, not the default firm's), "mario" with PC "b-pc" and a live
    session on it, an API token, and a share link of the PC."""
    with app.app_context():
        org = create_organisation("Bianchi Srl", slug="bianchi").id
        with tenancy.acting_for(org):
            ops.add_user("boss", "bbosspass12", admin=True)
            mario = ops.add_user("mario", "mariopass12")
            pc, _code = ops.add_machine("b-pc")
            ops.grant(mario, pc)
            _row, token = ops.create_token(mario, "script", actor="boss")
            shares.set_sharing(True, actor="boss")
            _link, secret = shares.create(mario, pc, view_only=True, minutes=60, max_uses=5, actor="mario")
            session = "b" * 32
            add_live_session(app, session, mario, pc)
            app.extensions["ponte.live"].session_fields(session, {"org": org})
    return {"org": org, "token": token, "secret": secret, "session": session}


def test_a_disabled_firm_is_shut_out_at_once_and_the_others_are_not(app, world, bianchi, login, commands):
    mario = AuthActions(app.test_client(), login_path="/o/bianchi/login")
    assert mario.login("mario", "mariopass12").status_code == 302
    assert mario.client.get("/api/v1/me").status_code == 200
    bearer = {"Authorization": f"Bearer {bianchi['token']}"}
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 200
    emp = login("emp")

    with app.app_context(), tenancy.across_organisations():
        assert set_disabled(db.session.get(Organisation, bianchi["org"]), True, actor="operator")
        assert not set_disabled(db.session.get(Organisation, bianchi["org"]), True)   # already
    # Every node is told (the bus, over Redis): the firm's session by id, its agents by firm.
    reason = "Your organisation's access was suspended by its provider"
    commands.wait(lambda c: c == {"cmd": "end", "session": bianchi["session"], "reason": reason})
    commands.wait(lambda c: c == {"cmd": "end_organisation", "organisation_id": bianchi["org"], "reason": reason})
    assert not any(c.get("session") in world.live.values() for c in commands.drain())   # not the default firm's

    assert mario.client.get("/api/v1/me").status_code == 401                   # the cookie is dead
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 401   # so is the token
    assert app.test_client().get("/o/bianchi/login").status_code == 404         # no login page …
    again = AuthActions(app.test_client(), login_path="/login")
    assert again.login("mario", "mariopass12").status_code == 401              # … nor at the default one
    assert app.test_client().get(f"/share/{bianchi['secret']}").status_code in (403, 404)
    assert emp.client.get("/api/v1/me").status_code == 200                      # the default firm goes on

    with app.app_context(), tenancy.across_organisations():
        assert set_disabled(db.session.get(Organisation, bianchi["org"]), False, actor="operator")
        actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.organisation_id == 1)))
        assert "organisation_disabled" in actions and "organisation_enabled" in actions
    assert mario.login("mario", "mariopass12").status_code == 302              # enabled: in again


def test_the_default_firm_cannot_be_disabled(app, users):
    from gateway.errors import AdminError

    with app.app_context(), tenancy.across_organisations(), pytest.raises(AdminError):
        set_disabled(db.session.get(Organisation, tenancy.DEFAULT), True)


def test_the_provider_page_disables_and_enables_a_firm(app, world, bianchi, login):
    with app.app_context():
        boss = ops.get_user("boss")
        boss.is_operator = True
        db.session.commit()
    operator = login("boss")
    page = operator.client.get("/provider/").get_data(as_text=True)
    assert "Disable Bianchi Srl" in page
    form = {"csrf_token": operator.csrf, "organisation": str(bianchi["org"])}
    assert operator.client.post("/provider/state", data={**form, "disabled": "1"}).status_code == 302
    assert app.test_client().get("/o/bianchi/login").status_code == 404
    assert operator.client.post("/provider/state", data={**form, "organisation": "1", "disabled": "1"}
                                ).status_code == 302   # refused, with a note: the default firm
    assert operator.client.get("/api/v1/me").status_code == 200
    assert operator.client.post("/provider/state", data={**form, "organisation": "99999"}).status_code == 404
    assert operator.client.post("/provider/state", data={**form, "disabled": "0"}).status_code == 302
    assert app.test_client().get("/o/bianchi/login").status_code == 200


def test_a_disabled_firms_agent_is_refused_and_not_for_good(app, bianchi):
    from agents.protocol.control import REFUSED_FINAL
    from gateway.ws import _check_credential

    with app.app_context(), tenancy.acting_for(bianchi["org"]):
        _machine, code = ops.add_machine("b-pc-2")
        _machine, spare = ops.add_machine("b-pc-3")
    agent = app.test_client()
    credential = agent.post("/api/v1/enroll", json={"code": code}).get_json()["credential"]
    with app.test_request_context():
        assert _check_credential(credential)[1] is None
        with tenancy.across_organisations():
            set_disabled(db.session.get(Organisation, bianchi["org"]), True)
    with app.test_request_context():
        machine, refused = _check_credential(credential)
        assert machine is None and refused.code == "organisation_disabled"
        assert refused.code not in REFUSED_FINAL   # the agent keeps dialling: enabled again, it is back
    refused = agent.post("/api/v1/enroll", json={"code": spare})
    assert refused.status_code == 403 and "suspended" in refused.get_json()["error"]["message"]
    with app.app_context(), tenancy.across_organisations():
        set_disabled(db.session.get(Organisation, bianchi["org"]), False)
    with app.test_request_context():
        assert _check_credential(credential)[1] is None
    assert agent.post("/api/v1/enroll", json={"code": spare}).status_code == 201   # the code was kept


def test_the_hub_drops_only_the_disabled_firms_agents(app):
    """``EndOrganisation`` on a node: its channels of that firm are refused (not "revoked") and
    closed; another firm's stay."""
    from gateway.hub import CLOSE_ORGANISATION_DISABLED, AgentChannel

    class Socket:
        def __init__(self):
            self.sent, self.closed = [], None

        def write_message(self, data):
            self.sent.append(data)

        def close_with(self, code, reason):
            self.closed = (code, reason)

    class Conversation:
        def send(self, event):
            return repr(event).encode()

    hub = app.extensions["ponte.hub"]
    mine, theirs = Socket(), Socket()
    hub.channels[9001] = AgentChannel(9001, "b-pc", mine, Conversation(), organisation_id=7)
    hub.channels[9002] = AgentChannel(9002, "a-pc", theirs, Conversation(), organisation_id=1)
    try:
        hub.handle_command(nodebus.decode(nodebus.encode(nodebus.EndOrganisation(7, "suspended"))))
        assert mine.closed == (CLOSE_ORGANISATION_DISABLED, "suspended")
        assert b"organisation_disabled" in mine.sent[-1] and b"revoked" not in mine.sent[-1]
        assert theirs.closed is None and not theirs.sent
    finally:
        hub.channels.pop(9001, None)
        hub.channels.pop(9002, None)
