"""Share links (issue 14) through the API and the guest's pages: who may share, the guest page,
uses counted atomically, expiry, revocation (ending the guests' sessions), and a guest cookie
that opens nothing else."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway import ops
from gateway.extensions import db
from gateway.guests import COOKIE
from gateway.models import AuditEvent, ShareLink, utcnow
from gateway.ops import shares
from tests.support.web import csrf_from


def _sharing(app, on: bool):
    with app.app_context():
        shares.set_sharing(on, actor="boss")


def _create(auth, client, machine="desk-1", expect=201, **fields):
    resp = client.post(f"/api/v1/machines/{machine}/shares", json={"minutes": 60, "max_uses": 1, **fields},
                       headers=auth.headers())
    assert resp.status_code == expect, resp.get_data(as_text=True)
    return resp.get_json()


def _secret(share: dict) -> str:
    return share["url"].rsplit("/share/", 1)[1]


def _guest_opens(app, secret: str, ip: str = "203.0.113.50"):
    """A fresh browser opens the link and presses "Open": (client, response)."""
    guest = app.test_client()
    page = guest.get(f"/share/{secret}", environ_base={"REMOTE_ADDR": ip})
    assert page.status_code == 200
    resp = guest.post(f"/share/{secret}", data={"csrf_token": csrf_from(page.get_data(as_text=True))},
                      environ_base={"REMOTE_ADDR": ip})
    return guest, resp


def _ticket(guest, expect=201):
    csrf = csrf_from(guest.get("/login").get_data(as_text=True))
    resp = guest.post("/share/session", json={}, headers={"X-CSRFToken": csrf})
    assert resp.status_code == expect, resp.get_data(as_text=True)
    return resp.get_json()


@pytest.fixture
def emp(world, login):
    return login("emp")


def test_employees_share_only_granted_pcs_and_only_when_the_admin_allows(app, world, emp, client):
    assert _create(emp, client, expect=403)["error"]["code"] == "forbidden"   # off by default
    _sharing(app, True)
    share = _create(emp, client, view_only=False, minutes=30, max_uses=2)["share"]
    assert share["view_only"] is False and share["max_uses"] == 2 and share["state"] == "active"
    assert share["url"].startswith("http://localhost/share/") and len(_secret(share)) >= 40
    _create(emp, client, machine="desk-2", expect=403)           # not granted to emp
    _create(emp, client, machine="no-such-pc", expect=403)       # and no hint whether it exists
    listed = client.get("/api/v1/machines/desk-1/shares").get_json()["shares"]
    assert [s["id"] for s in listed] == [share["id"]] and "url" not in listed[0]   # the secret is shown once
    with app.app_context():
        stored = db.session.get(ShareLink, share["id"])
        assert stored.token_hash != _secret(share) and len(stored.token_hash) == 64


def test_admins_share_any_pc_and_choices_are_bounded(app, world, admin, client):
    share = _create(admin, client, machine="desk-2")["share"]
    assert share["view_only"] is True                            # watch only unless asked
    for bad in ({"minutes": 7}, {"minutes": 10 ** 6}, {"max_uses": 0}, {"max_uses": 11}, {"max_uses": "2"},
                {"view_only": "yes"}):
        assert _create(admin, client, machine="desk-2", expect=400, **bad)["error"]["code"] == "bad_request"


def test_guest_page_says_whose_pc_what_and_until_when_without_leaking_the_link(app, world, admin, client):
    secret = _secret(_create(admin, client, machine="desk-2", minutes=120)["share"])
    page = app.test_client().get(f"/share/{secret}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "boss shares the PC desk-2 with you" in html and "watch its screen, but not use it" in html
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    assert '<meta name="referrer" content="no-referrer">' in html
    assert "Content-Security-Policy" in page.headers
    it = app.test_client().get(f"/share/{secret}", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert "condivide con Lei il PC desk-2" in it
    for wrong in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "x", "a" * 200):
        assert app.test_client().get(f"/share/{wrong}").status_code == 404


def test_each_guest_takes_one_use_and_the_last_one_is_refused(app, world, admin, client):
    share = _create(admin, client, machine="desk-2", max_uses=2)["share"]
    secret = _secret(share)
    first, resp = _guest_opens(app, secret)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/share/view")
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(COOKIE + "=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # the same browser pressing Open again does not take another use
    page = first.get(f"/share/{secret}")
    assert first.post(f"/share/{secret}", data={"csrf_token": csrf_from(page.get_data(as_text=True))}
                      ).status_code == 303
    _, second = _guest_opens(app, secret)
    assert second.status_code == 303
    _, third = _guest_opens(app, secret)
    assert third.status_code == 409 and "already opened it" in third.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(ShareLink, share["id"]).uses == 2
        used = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "share_use")))
        assert [(e.ip, e.actor) for e in used] == [("203.0.113.50", shares.guest_name(share["id"]))] * 2
    # Open without the page's CSRF token: refused, no use taken
    assert app.test_client().post(f"/share/{secret}").status_code == 400


def test_guests_racing_for_the_last_uses_never_exceed_them(app, world, admin, client):
    share = _create(admin, client, machine="desk-2", max_uses=3)["share"]
    with app.app_context():
        link_id = share["id"]
    start, wins, errors = threading.Barrier(8), [], []

    def race():
        try:
            with app.app_context():
                link = db.session.get(ShareLink, link_id)
                start.wait()
                wins.append(shares.take_use(link, ip="198.51.100.1"))
                db.session.remove()
        except Exception as exc:  # reported below: a lock timeout would be a failure too
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors and sorted(wins) == [False] * 5 + [True] * 3
    with app.app_context():
        assert db.session.get(ShareLink, link_id).uses == 3


def test_guest_ticket_is_bound_to_the_guest_and_view_only_rides_in_it(app, world, admin, client):
    secret = _secret(_create(admin, client, machine="desk-2")["share"])
    guest, _ = _guest_opens(app, secret)
    assert guest.get("/share/view").status_code == 200
    issued = _ticket(guest)
    assert issued["ticket"].startswith("guest.") and issued["ws_url"].endswith("/ws/view")
    record = app.extensions["ponte.live"].session(issued["session"])
    assert record["kind"] == "guest" and record["view_only"] == "1" and record["client_ip"] == "127.0.0.1"
    with app.app_context():
        ticket = app.extensions["ponte.live"].consume_ticket(issued["ticket"][len("guest."):])
    assert ticket.user_id == 0 and ticket.guest.startswith(f"{record['share_id']}:") and ticket.terms.view_only
    assert 3500 < ticket.terms.max_duration <= 3600 and ticket.terms.kind == "guest"
    # no guest cookie: no ticket, no viewer
    stranger = app.test_client()
    csrf = csrf_from(stranger.get("/login").get_data(as_text=True))
    assert stranger.post("/share/session", json={}, headers={"X-CSRFToken": csrf}).status_code == 401
    assert stranger.get("/share/view").status_code == 401
    # a forged cookie is nobody
    stranger.set_cookie(COOKIE, guest.get_cookie(COOKIE).value[:-2] + "xx")
    assert stranger.post("/share/session", json={}, headers={"X-CSRFToken": csrf}).status_code == 401


def test_a_guest_reaches_nothing_else(app, world, admin, client):
    secret = _secret(_create(admin, client, machine="desk-2", view_only=False)["share"])
    guest, _ = _guest_opens(app, secret)
    csrf = csrf_from(guest.get("/login").get_data(as_text=True))
    h = {"X-CSRFToken": csrf}
    assert guest.get("/api/v1/me").status_code == 401
    assert guest.get("/api/v1/me/machines").status_code == 401
    for machine in ("desk-1", "desk-2"):
        assert guest.post(f"/api/v1/machines/{machine}/sessions", json={}, headers=h).status_code == 401
        assert guest.get(f"/api/v1/machines/{machine}/shares").status_code == 401
        assert guest.get(f"/view/{machine}").status_code == 302
    assert guest.get("/").status_code == 302 and guest.get("/admin/").status_code == 302
    live = world.live["emp"]
    assert guest.get(f"/api/v1/sessions/{live}").status_code == 401
    assert guest.get(f"/share/session/{live}").status_code == 404      # someone else's session
    assert guest.get(f"/share/session/{world.ended['emp']}").status_code == 404


def test_expired_link_stops_page_open_and_tickets(app, world, admin, client):
    share = _create(admin, client, machine="desk-2", max_uses=2)["share"]
    secret = _secret(share)
    guest, _ = _guest_opens(app, secret)
    with app.app_context():
        db.session.get(ShareLink, share["id"]).expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert app.test_client().get(f"/share/{secret}").status_code == 404
    assert guest.get("/share/view").status_code == 403
    _ticket(guest, expect=403)
    assert client.get("/api/v1/machines/desk-2/shares").get_json()["shares"][0]["state"] == "expired"


def test_revoke_by_creator_or_admin_ends_the_guests_sessions(app, world, login, commands):
    _sharing(app, True)
    emp_client = app.test_client()
    from tests.support.web import AuthActions
    emp = AuthActions(emp_client)
    emp.login("emp", "emppass12")
    share = _create(emp, emp_client, max_uses=3)["share"]
    guest, _ = _guest_opens(app, _secret(share))
    issued = _ticket(guest)
    # the guest's session goes live on some node (as pairing leaves it)
    live = app.extensions["ponte.live"]
    fields = live.session(issued["session"])
    live.session_started(issued["session"], int(fields["machine_id"]),
                         {**fields, "state": "live", "node": "node-elsewhere"})
    # someone else may not revoke it, nor see that it exists
    other = AuthActions(app.test_client())
    other.login("other", "otherpass1")
    assert other.client.delete(f"/api/v1/shares/{share['id']}", headers=other.headers()).status_code == 404
    assert other.client.delete("/api/v1/shares/999999", headers=other.headers()).status_code == 404
    resp = emp_client.delete(f"/api/v1/shares/{share['id']}", headers=emp.headers())
    assert resp.status_code == 200 and resp.get_json()["ended_sessions"] == 1
    assert resp.get_json()["share"]["state"] == "revoked"
    cmd = commands.wait(lambda c: c.get("cmd") == "end" and c.get("session") == issued["session"])
    assert cmd["reason"] == shares.REVOKED_REASON
    assert app.test_client().get(f"/share/{_secret(share)}").status_code == 404
    _ticket(guest, expect=403)
    # revoking a grant does not end a guest's session (its access is the link's), and the
    # employee's own sessions are not the link's to end
    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "share_create" in actions and "share_revoke" in actions


def _live_guest(app, secret):
    guest, _ = _guest_opens(app, secret)
    issued = _ticket(guest)
    live = app.extensions["ponte.live"]
    fields = live.session(issued["session"])
    live.session_started(issued["session"], int(fields["machine_id"]), {**fields, "state": "live", "node": "x"})
    return guest, issued["session"]


def test_a_link_dies_with_its_creators_right_to_share(app, world, admin, client, commands):
    _sharing(app, True)
    kept_guest, kept = _live_guest(app, _secret(_create(admin, client, machine="desk-1", max_uses=2)["share"]))
    emp_client = app.test_client()
    from tests.support.web import AuthActions
    emp = AuthActions(emp_client)
    emp.login("emp", "emppass12")
    emp_secret = _secret(_create(emp, emp_client, max_uses=2)["share"])
    emp_guest, gone = _live_guest(app, emp_secret)
    with app.app_context():
        ops.ungrant(ops.get_user("emp"), ops.get_machine("desk-1"))
    # the employee's link ends with their grant; the admin's link to the same PC does not
    commands.wait(lambda c: c.get("cmd") == "end" and c.get("session") == gone)
    assert not [c for c in commands.drain() if c.get("session") == kept]
    _ticket(emp_guest, expect=403)
    assert app.test_client().get(f"/share/{emp_secret}").status_code == 404
    _ticket(kept_guest)
    # switching sharing off stops employees' links too (admins' stay)
    with app.app_context():
        ops.grant(ops.get_user("emp"), ops.get_machine("desk-1"))
    emp_guest, again = _live_guest(app, emp_secret)
    _sharing(app, False)
    commands.wait(lambda c: c.get("cmd") == "end" and c.get("session") == again)
    _ticket(emp_guest, expect=403)
    _ticket(kept_guest)


def test_a_guest_on_a_recorded_pc_is_recorded_and_told_as_an_employee_is(app, world, admin, client):
    from gateway.ops import policy as policy_ops

    def guest_terms():
        guest, _ = _guest_opens(app, _secret(_create(admin, client, machine="desk-2")["share"]))
        issued = _ticket(guest)
        ticket = app.extensions["ponte.live"].consume_ticket(issued["ticket"][len("guest."):])
        return ticket.terms.record, issued["recording"]  # the ticket's terms: what the relay records

    assert guest_terms() == (False, None)  # the PC's policy: not recorded (the default)
    with app.app_context():
        policy_ops.set_rules(ops.get_machine("desk-2"), {"record": True}, actor="boss")
    record, told = guest_terms()
    assert record is True
    assert told["notice"].startswith("This session is recorded")  # before the viewer connects
    with app.app_context():
        policy_ops.set_rules(ops.get_machine("desk-2"), {"record": False}, actor="boss")
        policy_ops.set_rules(None, {"record": True}, actor="boss")  # the global policy counts too
    assert guest_terms()[0] is False  # …below the PC's own word
