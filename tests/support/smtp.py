"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it is sent.

aiosmtpd's ``Controller`` runs the asyncio server in a thread of the test process;
the gateway talks to it with smtplib over TCP like to any mail relay.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller

from . import free_port, wait_for
from .selfsigned import write_self_signed


@dataclass
class Mailbox:
    messages: list = field(default_factory=list)   # email.message.EmailMessage, in arrival order
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):   # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((tuple(envelope.rcpt_tos), message))
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 5.0) -> list:
        wait_for(lambda: len(self.messages) >= count, timeout=timeout, what=f"{count} message(s)")
        return list(self.messages)


class SMTPServer:
    """``tls_dir``: speak STARTTLS (and insist on it) with a self-signed certificate made there."""

    def __init__(self, tls_dir: Path | None = None):
        self.mailbox = Mailbox()
        self.port = free_port()
        self.ca_file = ""
        kwargs = {}
        if tls_dir is not None:
            tls_dir.mkdir(parents=True, exist_ok=True)
            cert, key = tls_dir / "smtp-cert.pem", tls_dir / "smtp-key.pem"
            write_self_signed(cert, key)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            kwargs = {"tls_context": context, "require_starttls": True}
            self.ca_file = str(cert)
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> SMTPServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def settings(self) -> dict:
        security = {"smtp_security": "starttls", "smtp_ca_file": self.ca_file} if self.ca_file else \
            {"smtp_security": "none"}
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_from": "ponte@example.org",
                "smtp_timeout": 5.0, **security}
