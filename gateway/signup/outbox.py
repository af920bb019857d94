"""Sign-up mail, sent after the answer: a bounded queue and two senders per process.

A request only puts its message in the queue (never waits: full means the page sheds, see
``views``), so no answer waits for SMTP and a surge cannot pile up greenlets or threadpool
threads: two senders drain the queue, each through ``mail.send`` (under ``serve`` in gevent's
threadpool, ``loop.off_loop``). Under ``serve`` the queue and senders are gevent's; elsewhere
(the CLI, the Flask test client) plain threads, so tests see the same order of events:
the answer first, the mail after. Failures are logged, as ``mail.send_later`` does.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from ..errors import MailError
from ..loop import cooperative
from ..signin import mail

log = logging.getLogger(__name__)

SENDERS = 2


class Outbox:
    def __init__(self, settings):
        self.settings = settings
        self._queue = None
        self._pid = None
        self._lock = threading.Lock()
        self._unsent = 0   # posted and not yet handed to the server (or failed): ``flush``

    def _start(self) -> None:
        """The queue and its senders, made in the process that uses them (after any fork)."""
        with self._lock:
            if self._pid == os.getpid():
                return
            if cooperative():
                import gevent
                from gevent.queue import Queue

                self._queue = Queue(maxsize=self.settings.signup_outbox)
                for _ in range(SENDERS):
                    gevent.spawn(self._drain)
            else:
                import queue

                self._queue = queue.Queue(maxsize=self.settings.signup_outbox)
                for n in range(SENDERS):
                    threading.Thread(target=self._drain, name=f"signup-mail-{n}", daemon=True).start()
            self._pid = os.getpid()

    def post(self, to: str, subject: str, body: str) -> bool:
        """Queue one message; False when the queue is full (nothing queued)."""
        if self._pid != os.getpid():
            self._start()
        try:
            self._queue.put_nowait((to, subject, body))
        except Exception:   # queue.Full / gevent.queue.Full
            return False
        with self._lock:
            self._unsent += 1
        return True

    def flush(self, timeout: float) -> bool:
        """Wait (a command line's process, before it exits) until every message posted was
        handed to the mail server or failed; False if some were not within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self._unsent and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._unsent

    def waiting(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def _drain(self) -> None:
        while True:
            to, subject, body = self._queue.get()
            try:
                mail.send(self.settings, to, subject, body)
            except MailError as exc:
                log.warning("sign-up mail: %s", exc)
            except Exception:   # a sender must outlive any one message
                log.exception("sign-up mail to %s", to)
            finally:
                with self._lock:
                    self._unsent -= 1


def outbox(app) -> Outbox:
    """The app's outbox (made when the sign-up blueprint is registered, ``views``)."""
    return app.extensions["ponte.signup_outbox"]
