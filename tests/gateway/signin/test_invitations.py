"""Invitations and "forgot password": one-time set-password links, mailed through a real
SMTP server the test starts (aiosmtpd, tests/support/smtp.py).

What a person sees: the admin's "Invite a person" page, then a page with the link to copy
("Sent by email to …" when mail is on); the invited person opens the link, sees their user
name and chooses a password twice; then the login page says "Your password is set".
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gateway import ops
from gateway.extensions import db
from gateway.models import Invitation, User, utcnow
from gateway.signin.accounts import set_signin_method
from gateway.signin.views import FORGOT_ANSWER
from tests.support.web import AuthActions, csrf_from

LINK = re.compile(r"http://localhost(/invite/[A-Za-z0-9_-]+)")


def _setup(app):
    with app.app_context():
        ops.add_user("boss", "bosspass1", admin=True)


def _admin(app):
    client = app.test_client()
    auth = AuthActions(client)
    assert auth.login("boss", "bosspass1").status_code == 302
    return client, auth


def _invite(client, auth, **fields):
    data = {"csrf_token": auth.csrf, "name": "newbie", "display_name": "New Bie", "email": "newbie@example.org",
            "signin_method": "local", **fields}
    return client.post("/admin/signin/invite", data=data)


def _choose(client, path, password, again=None):
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True)), "password": password,
                                   "again": password if again is None else again})


def test_invitation_by_email_sets_the_password_once(make_app, smtp):
    app = make_app(**smtp.settings())
    _setup(app)
    client, auth = _admin(app)
    assert "Invite a person" in client.get("/admin/users").get_data(as_text=True)
    page = _invite(client, auth)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Sent by email to newbie@example.org" in html
    shown = LINK.search(html).group(1)

    (recipients, message), = smtp.mailbox.wait()
    assert recipients == ("newbie@example.org",) and message["From"] == "ponte@example.org"
    body = message.get_content()
    assert "user name newbie" in body and LINK.search(body).group(1) == shown

    person = app.test_client()
    assert AuthActions(person).login("newbie", "").status_code != 302     # no password yet: nothing works
    with app.app_context():
        assert ops.get_user("newbie").password_hash == ""
        stored = db.session.scalar(select(Invitation.token_hash))
        assert stored != shown.rsplit("/", 1)[1] and len(stored) == 64     # only the hash is kept
    welcome = person.get(shown).get_data(as_text=True)
    assert "Your user name is <strong>newbie</strong>" in welcome
    assert _choose(person, shown, "different-1", "different-2").status_code == 400
    assert _choose(person, shown, "password").status_code == 400            # too easy: the link still works
    done = _choose(person, shown, "a-good-long-passphrase")
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert "Your password is set" in person.get("/login").get_data(as_text=True)
    assert AuthActions(person).login("newbie", "a-good-long-passphrase").status_code == 302
    # Single use: the same link again is a dead end.
    assert app.test_client().get(shown).status_code == 404
    assert _choose(app.test_client(), shown, "another-passphrase-2").status_code == 404


def test_links_without_mail_expire_and_replace_each_other(make_app):
    app = make_app()
    _setup(app)
    client, auth = _admin(app)
    html = _invite(client, auth, email="").get_data(as_text=True)
    assert "No mail server is configured" in html
    first = LINK.search(html).group(1)
    with app.app_context():
        user_id = ops.get_user("newbie").id
    second_page = client.post(f"/admin/signin/users/{user_id}/link", data={"csrf_token": auth.csrf})
    second = LINK.search(second_page.get_data(as_text=True)).group(1)
    assert app.test_client().get(first).status_code == 404     # the newer link replaced it
    assert app.test_client().get(second).status_code == 200
    with app.app_context():
        db.session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert app.test_client().get(second).status_code == 404    # expired
    assert "This link does not work" in app.test_client().get("/invite/junk").get_data(as_text=True)


def test_company_accounts_get_no_password_link(make_app):
    app = make_app()
    _setup(app)
    client, auth = _admin(app)
    resp = _invite(client, auth, name="dirk", signin_method="ldap")
    assert resp.status_code == 302
    with app.app_context():
        dirk = ops.get_user("dirk")
        assert dirk.signin_method == "ldap" and db.session.scalar(select(Invitation)) is None
        dirk_id = dirk.id
    client.post(f"/admin/signin/users/{dirk_id}/link", data={"csrf_token": auth.csrf})
    assert "there is no password to set here" in client.get(f"/admin/users/{dirk_id}").get_data(as_text=True)


def test_forgot_password_needs_mail(make_app):
    app = make_app()
    assert app.test_client().get("/forgot").status_code == 404
    assert "Forgot your password?" not in app.test_client().get("/login").get_data(as_text=True)


def _forgot(app, typed, ip="192.0.2.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    page = client.get("/forgot").get_data(as_text=True)
    resp = client.post("/forgot", data={"csrf_token": csrf_from(page), "name": typed}, follow_redirects=True)
    return resp.status_code, resp.get_data(as_text=True)


def test_forgot_password_never_tells_who_exists(make_app, smtp):
    app = make_app(**smtp.settings())
    with app.app_context():
        emp = ops.add_user("emp", "emppass12")
        emp.email = "emp@example.org"
        ops.add_user("noaddress", "noaddress-1")
        set_signin_method(ops.add_user("dirk", "dirkpass12"), "ldap")
        ops.get_user("dirk").email = "dirk@example.org"
        db.session.commit()
    assert "Forgot your password?" in app.test_client().get("/login").get_data(as_text=True)
    answers = {typed: _forgot(app, typed) for typed in ("nobody", "noaddress", "dirk", "emp")}
    assert all(status == 200 and FORGOT_ANSWER in body for status, body in answers.values())
    # The same page for all (but for the per-response CSRF token and CSP nonces).
    assert len({re.sub(r'(value|content|nonce)="[^"]*"', "", body) for _, body in answers.values()}) == 1

    (recipients, message), = smtp.mailbox.wait()
    assert recipients == ("emp@example.org",) and "reset the password of emp" in message.get_content()
    link = LINK.search(message.get_content()).group(1)

    # A browser logged in as emp (or a thief's) loses its login when the password is reset.
    logged_in = app.test_client()
    assert AuthActions(logged_in).login("emp", "emppass12").status_code == 302
    assert _choose(app.test_client(), link, "brand-new-passphrase").status_code == 302
    assert logged_in.get("/").status_code == 302
    assert AuthActions(app.test_client()).login("emp", "brand-new-passphrase").status_code == 302
    # By email address too; a disabled account gets nothing.
    assert FORGOT_ANSWER in _forgot(app, "EMP@example.org")[1]
    smtp.mailbox.wait(2)
    with app.app_context():
        ops.set_disabled(ops.get_user("emp"), True)
    assert _forgot(app, "emp")[0] == 429               # 5 asks per 15 minutes from one address
    assert FORGOT_ANSWER in _forgot(app, "emp", ip="192.0.2.2")[1]
    with app.app_context():
        assert db.session.scalar(select(User).where(User.name == "emp")).disabled
    time.sleep(0.3)
    assert len(smtp.mailbox.messages) == 2


def test_forgot_password_on_a_gevent_server(gateway_factory, smtp):
    """Under ``serve`` the reset mail leaves in the background (smtplib in gevent's threadpool)
    and still arrives."""
    import requests

    env = {f"PONTE_{k.upper()}": str(v) for k, v in smtp.settings().items()}
    gw = gateway_factory(**env)
    gw.add_user("emp", "emppass12")
    from gateway import create_app

    app = create_app({"instance_path": str(gw.instance), "redis_url": gw.redis_url,
                      "redis_prefix": gw.extra_env["PONTE_REDIS_PREFIX"]})
    with app.app_context():
        ops.get_user("emp").email = "emp@example.org"
        db.session.commit()
    web = requests.Session()
    page = web.get(gw.url + "/forgot", timeout=10).text
    resp = web.post(gw.url + "/forgot", data={"csrf_token": csrf_from(page), "name": "emp"}, timeout=10)
    assert resp.status_code == 200 and FORGOT_ANSWER in resp.text
    (recipients, message), = smtp.mailbox.wait()
    assert recipients == ("emp@example.org",)
    link = re.search(r"(/invite/[A-Za-z0-9_-]+)", message.get_content()).group(1)
    assert "Choose a new password" in web.get(gw.url + link, timeout=10).text


def test_mail_over_starttls_is_verified(make_app, tmp_path):
    """The default: STARTTLS, the server's certificate checked against smtp_ca_file."""
    from gateway.signin import mail
    from gateway.errors import MailError
    from tests.support.smtp import SMTPServer

    server = SMTPServer(tls_dir=tmp_path / "tls").start()
    try:
        app = make_app(**server.settings())
        settings = app.config["PONTE"]
        mail.send(settings, "emp@example.org", "Hello", "over TLS")
        (recipients, message), = server.mailbox.wait()
        assert recipients == ("emp@example.org",) and message.get_content().strip() == "over TLS"
        import dataclasses

        with pytest.raises(MailError):   # the system's CAs do not know the test certificate
            mail.send(dataclasses.replace(settings, smtp_ca_file=""), "emp@example.org", "Hello", "no")
        with pytest.raises(MailError):   # the server insists on STARTTLS
            mail.send(dataclasses.replace(settings, smtp_security="none"), "emp@example.org", "Hello", "no")
        assert len(server.mailbox.messages) == 1
    finally:
        server.stop()
