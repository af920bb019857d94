"""The public sign-up of firms (issue 17), through the Flask client and a real SMTP server.

What a person sees: the form, then "Check your e-mail"; the mail's link opens a page with one
"Confirm" button; the provider's queue lists the firm; approving it sends its first admin an
invitation, whose link sets a password that logs in. Every refusal is a page that says why.
"""

from __future__ import annotations

import re
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gateway import ops, tenancy
from gateway.extensions import db
from gateway.models import DEFAULT_ORGANISATION, AuditEvent, Organisation, SignupRequest, User, utcnow
from gateway.ops.organisations import create_organisation
from gateway.signup import proof
from tests.support.web import AuthActions, csrf_from

CONFIRM = re.compile(r"http://localhost(/signup/confirm/[A-Za-z0-9_-]+)")
INVITE = re.compile(r"http://localhost(/invite/[A-Za-z0-9_-]+)")
FIELDS = {"firm": "Rossi & Figli S.r.l.", "contact": "Maria Rossi", "email": "maria@rossi.example", "pcs": "12"}


def _form(client, lang: str = "en"):
    page = client.get("/signup", headers={"Accept-Language": lang})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    challenge = re.search(r'name="challenge" value="([^"]+)"', html).group(1)
    bits = int(re.search(r'data-bits="(\d+)"', html).group(1))
    return html, challenge, bits


def _send(client, *, lang: str = "en", solve: bool = True, **fields):
    html, challenge, bits = _form(client, lang)
    data = {"csrf_token": csrf_from(html), "challenge": challenge, "website": "", **FIELDS, **fields}
    data.setdefault("proof", proof.solve(challenge, bits) if solve else "0")
    return client.post("/signup", data=data, headers={"Accept-Language": lang}), data


def _text(resp) -> str:
    return resp.get_data(as_text=True)


def _boss(app):
    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True).is_operator = True   # the provider's operator
        db.session.commit()
    client = app.test_client()
    auth = AuthActions(client)
    assert auth.login("boss", "bosspass1").status_code == 302
    return client, auth


def _confirm(client, path):
    page = client.get(path)
    assert page.status_code == 200 and "Confirm the request" in _text(page)
    return client.post(path, data={"csrf_token": csrf_from(_text(page))})


def test_submit_confirm_approve_invite_and_log_in(make_app, smtp):
    app = make_app(**smtp.settings())
    visitor = app.test_client()
    sent, _data = _send(visitor)
    assert sent.status_code == 200 and "Check your e-mail" in _text(sent)
    assert "maria@rossi.example" in _text(sent)

    (to, message), = smtp.mailbox.wait()
    assert to == ("maria@rossi.example",) and message["Subject"] == "Confirm your request for Ponte"
    body = message.get_content()
    assert "Rossi & Figli S.r.l." in body and "Maria Rossi" in body
    path = CONFIRM.search(body).group(1)
    with app.app_context():
        row = db.session.scalar(select(SignupRequest))
        assert row.status == "unconfirmed" and row.pcs == 12 and row.token_hash != path.rsplit("/", 1)[1]
        assert len(row.token_hash) == 64   # only the link's hash is kept

    boss, auth = _boss(app)
    assert "Rossi" not in _text(boss.get("/provider/signups"))   # not confirmed: not in the queue
    assert visitor.get(path).status_code == 200                   # opening the link confirms nothing
    with app.app_context():
        assert db.session.scalar(select(SignupRequest.status)) == "unconfirmed"
    done = _confirm(visitor, path)
    assert done.status_code == 200 and "Request confirmed" in _text(done)
    assert visitor.get(path).status_code == 404                   # the link worked once

    queue = _text(boss.get("/provider/signups"))
    assert "Rossi &amp; Figli S.r.l." in queue and "maria@rossi.example" in queue
    with app.app_context():
        signup_id = db.session.scalar(select(SignupRequest.id))
    approved = boss.post(f"/provider/signups/{signup_id}/approve", data={"csrf_token": auth.csrf},
                         follow_redirects=True)
    assert approved.status_code == 200 and "is approved" in _text(approved)
    again = boss.post(f"/provider/signups/{signup_id}/approve", data={"csrf_token": auth.csrf}, follow_redirects=True)
    assert "decided already" in _text(again)                    # one firm, however often clicked

    _first, (to, invitation) = smtp.mailbox.wait(2)
    assert to == ("maria@rossi.example",) and invitation["Subject"] == "Your firm is on Ponte"
    invite = INVITE.search(invitation.get_content()).group(1)
    assert "/o/rossi-figli-s-r-l/login" in invitation.get_content()   # where the firm's people sign in
    with app.app_context():
        org = db.session.scalar(select(Organisation).where(Organisation.slug == "rossi-figli-s-r-l"))
        with tenancy.acting_for(org.id):   # the new firm's first admin is that firm's
            user = db.session.scalar(select(User).where(User.name == "maria@rossi.example"))
        assert org is not None and org.max_pcs == 12 and org.name == "Rossi & Figli S.r.l."
        assert user.is_admin and user.organisation_id == org.id and user.password_hash == ""
        with tenancy.across_organisations():
            actions = {e.action for e in db.session.scalars(select(AuditEvent))}
        assert {"signup_confirmed", "signup_approved", "organisation_created", "user_add"} <= actions
    # The provider's operator reads in the provider's log who approved which firm.
    assert _log(boss, "signup_approved") == [
        ("boss", f"signup:{signup_id}", "organisation rossi-figli-s-r-l, first admin maria@rossi.example")]

    person = app.test_client()
    page = person.get(invite)
    chosen = person.post(invite, data={"csrf_token": csrf_from(_text(page)), "password": "a-good-long-passphrase",
                                       "again": "a-good-long-passphrase"})
    assert chosen.status_code == 302
    # a firm's people sign in at its own address (the default /login is the default firm's)
    assert AuthActions(person, login_path="/o/rossi-figli-s-r-l/login").login("maria@rossi.example", "a-good-long-passphrase").status_code == 302


def test_the_answer_comes_before_the_mail_server_is_spoken_to(make_app):
    """An SMTP server that accepts and never greets: the sign-up still answers at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = threading.Event()
    held = []

    def hold():
        conn, _ = listener.accept()
        held.append(conn)
        accepted.set()

    threading.Thread(target=hold, daemon=True).start()
    app = make_app(smtp_host="127.0.0.1", smtp_port=listener.getsockname()[1], smtp_security="none",
                   smtp_from="ponte@example.org", smtp_timeout=60.0)
    try:
        sent, _data = _send(app.test_client())
        assert sent.status_code == 200 and "Check your e-mail" in _text(sent)
        assert accepted.wait(30)          # the outbox's sender did dial, after the answer
    finally:
        for conn in held:
            conn.close()
        listener.close()


def test_automatic_approval_approves_on_confirmation(make_app, smtp):
    app = make_app(**smtp.settings())
    boss, auth = _boss(app)
    page = _text(boss.post("/provider/signups/auto", data={"csrf_token": auth.csrf, "auto": "on"},
                           follow_redirects=True))
    assert "approved automatically" in page
    visitor = app.test_client()
    _send(visitor, email="anna@bianchi.example", firm="Bianchi")
    path = CONFIRM.search(smtp.mailbox.wait()[0][1].get_content()).group(1)
    assert "is open" in _text(_confirm(visitor, path))
    assert INVITE.search(smtp.mailbox.wait(2)[1][1].get_content())
    with app.app_context():
        row = db.session.scalar(select(SignupRequest))
        assert row.status == "approved" and row.decided_by == "auto-approval" and row.organisation_id


def test_refusal_is_audited_and_makes_nothing(make_app, smtp):
    app = make_app(**smtp.settings())
    visitor = app.test_client()
    _send(visitor)
    _confirm(visitor, CONFIRM.search(smtp.mailbox.wait()[0][1].get_content()).group(1))
    boss, auth = _boss(app)
    with app.app_context():
        signup_id = db.session.scalar(select(SignupRequest.id))
    page = _text(boss.post(f"/provider/signups/{signup_id}/refuse", data={"csrf_token": auth.csrf},
                           follow_redirects=True))
    assert "is refused" in page
    with app.app_context():
        assert db.session.scalar(select(SignupRequest.status)) == "refused"
        assert db.session.scalar(select(Organisation).where(Organisation.slug != "default")) is None
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "signup_refused")) is not None
    assert boss.post("/provider/signups/999999/approve", data={"csrf_token": auth.csrf}).status_code == 404
    assert _log(boss, "signup_refused") == [("boss", f"signup:{signup_id}", "Rossi & Figli S.r.l.")]


def test_an_automatic_approval_is_in_the_providers_log_whichever_firms_page_the_visitor_came_by(
        make_app, smtp):
    """The confirmation that approves runs in the visitor's request, which acts for the firm
    whose ``/o/<slug>/`` page this browser came through: the sign-up is still the provider's
    to read, never that firm's."""
    app = make_app(**smtp.settings())
    boss, auth = _boss(app)
    boss.post("/provider/signups/auto", data={"csrf_token": auth.csrf, "auto": "on"})
    with app.app_context():
        acme = create_organisation("Acme", language="en", actor="test").id
    visitor = app.test_client()
    assert visitor.get("/o/acme/login").status_code == 200
    _send(visitor, email="anna@bianchi.example", firm="Bianchi")
    assert "is open" in _text(_confirm(visitor, CONFIRM.search(smtp.mailbox.wait()[0][1].get_content()).group(1)))
    with app.app_context(), tenancy.across_organisations():
        bianchi = db.session.scalar(select(Organisation.id).where(Organisation.slug == "bianchi"))
        signup_id = db.session.scalar(select(SignupRequest.id))
        rows = {(e.action, e.organisation_id) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.target.in_(("organisation:bianchi", f"signup:{signup_id}"))))}
    assert rows == {("signup_confirmed", DEFAULT_ORGANISATION), ("organisation_created", DEFAULT_ORGANISATION),
                    ("signup_approved", DEFAULT_ORGANISATION), ("signup_approved", bianchi)}
    assert acme not in {org for _, org in rows}
    assert [(who, target) for who, target, _ in _log(boss, "signup_approved")] == [
        ("auto-approval", f"signup:{signup_id}")]


def _log(client, action: str) -> list[tuple[str, str, str]]:
    """What the signed-in admin reads of ``action`` in their organisation's log (the API)."""
    resp = client.get(f"/api/v1/audit?action={action}")
    assert resp.status_code == 200, resp.data
    return [(e["actor"], e["target"], e["detail"]) for e in resp.get_json()["audit"]]


def test_only_the_provider_sees_the_queue(make_app, smtp):
    app = make_app(**smtp.settings())
    with app.app_context():
        ops.add_user("emp", "emppass12")
    assert app.test_client().get("/provider/signups").status_code == 302          # to the login
    client = app.test_client()
    AuthActions(client).login("emp", "emppass12")
    assert client.get("/provider/signups").status_code == 403


def test_expired_and_unknown_links(make_app, smtp):
    app = make_app(**smtp.settings())
    visitor = app.test_client()
    _send(visitor)
    path = CONFIRM.search(smtp.mailbox.wait()[0][1].get_content()).group(1)
    with app.app_context():
        db.session.execute(update(SignupRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    dead = visitor.get(path)
    assert dead.status_code == 404 and "This link does not work" in _text(dead)
    assert visitor.get("/signup/confirm/no-such-link").status_code == 404
    assert visitor.get("/signup/confirm/" + "x" * 300).status_code == 404
    boss, _auth = _boss(app)
    boss.get("/provider/signups")   # opening the queue expires what ran out
    with app.app_context():
        row = db.session.scalar(select(SignupRequest))
        assert row.status == "expired" and row.token_hash is None


def test_proof_of_work_bad_replayed_missing_and_stale(make_app, smtp, monkeypatch):
    app = make_app(**smtp.settings())
    visitor = app.test_client()
    bad, data = _send(visitor, solve=False, proof="not-a-proof")
    assert bad.status_code == 400 and "The browser check failed" in _text(bad)
    missing, _ = _send(visitor, proof="")
    assert missing.status_code == 400 and "The browser check failed" in _text(missing)
    good, data = _send(visitor)
    assert good.status_code == 200
    replay = visitor.post("/signup", data=data)
    assert replay.status_code == 400 and "sent once already" in _text(replay)
    forged = dict(data, challenge=data["challenge"][:-3] + "AAA")
    assert "The browser check failed" in _text(visitor.post("/signup", data=forged))
    # a challenge for fewer bits than required now (made with the same secret) is not enough
    with app.app_context():
        weak = proof.issue(app.config["PONTE"].secret_key, 1)
    html, _c, _b = _form(visitor)
    weak_data = dict(data, csrf_token=csrf_from(html), challenge=weak, proof=proof.solve(weak, 1), email="w@x.example")
    assert visitor.post("/signup", data=weak_data).status_code == 400
    # an answer older than the challenge's lifetime: the form again, with what was typed
    monkeypatch.setattr(proof, "TTL", -1)
    stale, _ = _send(visitor, email="late@rossi.example")
    assert stale.status_code == 400 and "open for a long time" in _text(stale)
    assert 'value="late@rossi.example"' in _text(stale)
    with app.app_context():
        assert db.session.query(SignupRequest).count() == 1


def test_honeypot_csrf_oversize_and_junk(make_app, smtp):
    app = make_app(**smtp.settings())
    visitor = app.test_client()
    trap, _ = _send(visitor, website="http://spam.example")
    assert trap.status_code == 400 and "meant to stay empty" in _text(trap)
    html, challenge, bits = _form(visitor)
    no_csrf = visitor.post("/signup", data={**FIELDS, "challenge": challenge, "proof": proof.solve(challenge, bits)})
    assert no_csrf.status_code == 400 and "The form has expired" in _text(no_csrf)
    for fields, where in (({"firm": "x" * 121}, "firm"), ({"contact": ""}, "contact"),
                          ({"email": "not-an-address"}, "email"), ({"email": "a@b.example\r\nBcc: x@y"}, "email"),
                          ({"pcs": "0"}, "pcs"), ({"pcs": "lots"}, "pcs"), ({"pcs": "١٢"}, "pcs"),
                          ({"firm": "Evil\x00Corp"}, "firm"), ({"contact": "<script>alert(1)</script>" * 10}, "contact")):
        resp, _ = _send(visitor, **fields)
        page = _text(resp)
        assert resp.status_code == 400, fields
        assert f'id="{where}-error"' in page and f'aria-describedby="{where}-error"' in page, fields
        assert "<script>alert" not in page
    huge, _ = _send(visitor, firm="x" * (2 * 1024 * 1024))
    assert huge.status_code == 413
    with app.app_context():
        assert db.session.query(SignupRequest).count() == 0
    assert not smtp.mailbox.messages


def test_limits_per_address_per_email_and_global(make_app, smtp):
    app = make_app(**smtp.settings(), signup_ip_limit="3 per hour", signup_email_limit="1 per day",
                   signup_global_limit="1000 per minute")
    visitor = app.test_client()
    assert _send(visitor, email="one@a.example")[0].status_code == 200
    again = _send(visitor, email="one@a.example")[0]
    assert again.status_code == 429 and "Too many requests" in _text(again)
    assert _send(visitor, email="two@a.example")[0].status_code == 200
    third = _send(visitor, email="three@a.example")[0]
    assert third.status_code == 429 and "Retry-After" in third.headers


def test_a_global_surge_sheds_with_try_again_later(make_app, smtp):
    app = make_app(**smtp.settings(), signup_global_limit="2 per minute", signup_ip_limit="100 per hour")
    statuses = []
    for i in range(3):
        client = app.test_client()
        resp, _ = _send(client, email=f"p{i}@surge.example")
        statuses.append(resp.status_code)
    assert statuses == [200, 200, 429]
    assert "try again in a few minutes" in _text(resp)


def test_off_by_default(app):
    assert app.test_client().get("/signup").status_code == 404
    assert app.test_client().get("/signup/confirm/abc").status_code == 404


def test_italian_page_and_mail(make_app, smtp):
    app = make_app(**smtp.settings())
    visitor = app.test_client()
    html, _c, _b = _form(visitor, "it")
    assert "Richiesta di accesso per la ditta" in html and "Nome della ditta" in html
    sent, _ = _send(visitor, lang="it")
    assert sent.status_code == 200
    (_to, message), = smtp.mailbox.wait()
    assert "Conferma" in message["Subject"]


@pytest.mark.parametrize("overrides, words", [({"signup": True}, "signup needs smtp_host"),
                                              ({"signup_pow_bits": 40}, "signup_pow_bits must be 8 to 28")])
def test_settings_that_cannot_work_stop_the_start(tmp_path, overrides, words):
    from gateway.config import load_settings
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError, match=words):
        load_settings(overrides={"instance_path": str(tmp_path), **overrides}, environ={})


def test_command_line_lists_and_expires(cli):
    assert cli("signup", "expire") == "0 request(s) expired\n"
    assert cli("signup", "list", "--status", "unconfirmed") == ""


def test_command_line_approves_and_refuses_audited(tmp_path, redis_server, prefix, smtp, monkeypatch):
    """``signup approve|refuse ID`` (and ``reject``): what the queue's buttons do, as ``cli``;
    the invitation reaches the mail server before the command returns."""
    from click.testing import CliRunner

    from gateway import create_app
    from gateway.cli import main

    monkeypatch.delenv("PONTE_CONFIG", raising=False)
    env = {"PONTE_INSTANCE_PATH": str(tmp_path / "cli"), "REDIS_URL": redis_server, "PONTE_REDIS_PREFIX": prefix,
           **{f"PONTE_{k.upper()}": str(v) for k, v in smtp.settings().items()}}
    app = create_app({"instance_path": str(tmp_path / "cli"), "redis_url": redis_server, "redis_prefix": prefix})
    with app.app_context():
        ids = []
        for firm in ("Verdi Srl", "Neri SpA", "Gialli Sas"):
            row = SignupRequest(firm_name=firm, contact_name="Anna", email=f"anna@{firm.split()[0].lower()}.example",
                                pcs=3, status="confirmed", confirmed_at=utcnow(), expires_at=utcnow())
            db.session.add(row)
            db.session.commit()
            ids.append(row.id)

    def run(*args, ok=True):
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    out = run("signup", "approve", str(ids[0]))
    assert re.search(r"request \d+ approved: organisation \d+, first admin anna@verdi.example", out), out
    assert "not sent" not in out
    (to, message), = smtp.mailbox.wait()
    assert to == ("anna@verdi.example",) and "/invite/" in message.get_content() and "/o/verdi-srl/login" in \
        message.get_content()
    assert "refused: Neri SpA" in run("signup", "refuse", str(ids[1]))
    assert "refused: Gialli Sas" in run("signup", "reject", str(ids[2]))
    assert "decided already" in run("signup", "approve", str(ids[1]), ok=False)   # one decision only
    assert "no sign-up request 999999" in run("signup", "approve", "999999", ok=False)
    assert "verdi-srl" in run("org", "list")
    with app.app_context():
        decided = {r.id: (r.status, r.decided_by) for r in db.session.scalars(select(SignupRequest))}
        assert decided == {ids[0]: ("approved", "cli"), ids[1]: ("refused", "cli"), ids[2]: ("refused", "cli")}
        with tenancy.across_organisations():   # the approval is in the new firm's log and the provider's
            actions = [(e.action, e.actor) for e in db.session.scalars(select(AuditEvent))]
        assert ("signup_approved", "cli") in actions and actions.count(("signup_refused", "cli")) == 2
