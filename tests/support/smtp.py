"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it is sent.

aiosmtpd's ``Controller`` runs the asyncio server in a thread of the test process;
the gateway talks to it with smtplib over TCP like to any mail relay.
"""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

from . import free_port, wait_for


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
    def __init__(self):
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> SMTPServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def settings(self) -> dict:
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "none",
                "smtp_from": "ponte@example.org", "smtp_timeout": 5.0}
