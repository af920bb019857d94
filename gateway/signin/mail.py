"""Outgoing mail (smtplib), for invitations and "forgot password" links.

Off when ``smtp_host`` is empty. The connection is ``starttls`` (the default,
verified against ``smtp_ca_file`` or the system's CAs), ``ssl`` (SMTPS) or ``none`` (only for a relay
on the same machine). Sending blocks, so under ``serve`` it runs in gevent's
threadpool (``loop.off_loop``), bounded by ``smtp_timeout``.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

from ..config import GatewaySettings
from ..loop import cooperative, off_loop
from ..errors import MailError

log = logging.getLogger(__name__)


def configured(settings: GatewaySettings) -> bool:
    return bool(settings.smtp_host)


def send(settings: GatewaySettings, to: str, subject: str, body: str) -> None:
    """Hand one plain-text message to the SMTP server; ``MailError`` if it does not take it."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.smtp_from, to, subject
    message.set_content(body)
    try:
        off_loop(_deliver, settings, message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"mail to {to} via {settings.smtp_host}: {exc}") from exc


def send_later(settings: GatewaySettings, to: str, subject: str, body: str) -> None:
    """``send`` without waiting for the server, under ``serve`` (a greenlet; failures are logged):
    how long the answer takes must not tell whether a message went out. Elsewhere, ``send``."""
    if not cooperative():
        return _send_logged(settings, to, subject, body)
    import gevent

    gevent.spawn(_send_logged, settings, to, subject, body)


def _send_logged(settings: GatewaySettings, to: str, subject: str, body: str) -> None:
    try:
        send(settings, to, subject, body)
    except MailError as exc:
        log.warning("%s", exc)


def _deliver(settings: GatewaySettings, message: EmailMessage) -> None:
    context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
    if settings.smtp_security == "ssl":
        server = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout,
                                  context=context)
    else:
        server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
    with server:
        if settings.smtp_security == "starttls":
            server.starttls(context=context)
        if settings.smtp_user:
            server.login(settings.smtp_user, settings.smtp_password)
        server.send_message(message)
