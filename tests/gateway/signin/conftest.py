"""Fixtures of the company sign-in tests: a real slapd, apps configured for it."""

from __future__ import annotations

import pytest

import shutil

from tests.support.slapd import Slapd


@pytest.fixture(scope="session")
def slapd(tmp_path_factory):
    """A real OpenLDAP server with the test directory (tests/support/slapd.py), stopped by PID."""
    missing = [b for b in ("slapd", "slapadd", "ldapwhoami") if not shutil.which(b)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/system-deps.sh test installs them)")
    server = Slapd.start(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


@pytest.fixture
def make_app(tmp_path, redis_server, prefix):
    """``make_app(**settings)``: a test app with extra settings (LDAP, SMTP, OIDC)."""
    from gateway import create_app

    def make(**settings):
        app = create_app({"instance_path": str(tmp_path / "instance"), "redis_url": redis_server,
                          "redis_prefix": prefix, "login_limit": "1000 per minute", **settings})
        app.config["TESTING"] = True
        return app
    return make


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) for this test; ``smtp.mailbox.wait()`` reads what arrived."""
    from tests.support.smtp import SMTPServer

    server = SMTPServer().start()
    yield server
    server.stop()
