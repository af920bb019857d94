"""Fixtures of the sign-up tests: a real SMTP server (aiosmtpd), an app with sign-up on."""

from __future__ import annotations

import pytest


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) for this test; ``smtp.mailbox.wait()`` reads what arrived."""
    from tests.support.smtp import SMTPServer

    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def make_app(tmp_path, redis_server, prefix):
    """``make_app(**settings)``: sign-up on, a low proof-of-work cost (the same code path), limits
    high enough for a test's many tries (the limit tests set their own)."""
    from gateway import create_app

    def make(**settings):
        app = create_app({"instance_path": str(tmp_path / "instance"), "redis_url": redis_server,
                          "redis_prefix": prefix, "login_limit": "1000 per minute", "signup": True,
                          "signup_pow_bits": 8, "signup_ip_limit": "100 per hour",
                          "signup_email_limit": "100 per day", **settings})
        app.config["TESTING"] = True
        return app
    return make
