"""The agent's one VNC server, watched: its state, and no lock-out by a wrong password.

Every login to the VNC server — the periodic check and each viewer's session —
goes through ``VncGuard``. It keeps the state heartbeats report (``ok``,
``kind``, ``detail``) and, after the server rejected the password, stops
trying: no checks, no session attempts, until the credentials change (the
password file is re-read on every attempt) or an admin asks for a retry
(``retry()``, from the gateway's ``RetryVnc``). VNC servers block logins after
a few failures (TightVNC after 5, for every client; TigerVNC, UltraVNC and
RealVNC per address, which here is 127.0.0.1, the PC's own users too), so
each viewer click re-running a wrong password would lock the PC out.

While the server is not known to be good, logins run one at a time, so two
viewers clicking at once cost at most one failed login.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading

from . import vnc
from .config import ConfigError

log = logging.getLogger(__name__)

#: Seconds between checks (full RFB handshakes), by the last outcome. Slow after
#: failures that a retry soon cannot fix; LOCKED checks contact nothing (they only
#: notice a changed password file), so they can be frequent.
CHECK_INTERVAL = {"ok": 60.0, vnc.UNREACHABLE: 15.0, vnc.TIMEOUT: 60.0, vnc.PROTOCOL: 60.0,
                  vnc.VERSION: 600.0, vnc.SECURITY: 600.0, vnc.CREDENTIALS: 5.0, vnc.CERTIFICATE: 300.0,
                  vnc.TLS: 300.0, vnc.PASSWORD: 300.0, vnc.REFUSED: 300.0, vnc.LOCKED: 5.0}

LOCKED_NOTE = ("The agent stopped trying this password so that the VNC server does not block logins from "
               "this PC; it tries again as soon as the password (vnc_password_file) changes, or when an "
               "admin presses \"Retry VNC login\" on the PC's admin page.")


def _key(creds) -> str:
    """Identifies the credentials without keeping another copy of the password."""
    return hashlib.sha256(repr((creds.password, creds.username, creds.trust, sorted(creds.allowed)))
                          .encode("utf-8", "surrogatepass")).hexdigest()


class VncGuard:
    """Logins to the agent's VNC server, with its state and the wrong-password stop."""

    def __init__(self, settings, on_change=None):
        self.settings = settings
        self.on_change = on_change  # called with no lock held whenever ok/kind change
        self.ok = False
        self.kind = "unchecked"
        self.detail = "not checked yet"
        self._serial = threading.Lock()
        self._state = threading.Lock()
        self._locked_key: str | None = None

    @property
    def locked(self) -> bool:
        return self._locked_key is not None

    def next_check_in(self) -> float:
        return CHECK_INTERVAL.get(self.kind, 60.0)

    def login(self) -> vnc.Login:
        """A login for one session (``Login.finish(shared)`` sends ClientInit).

        Raises ``vnc.VNCUnavailable``; kind ``LOCKED`` without contacting the server.
        """
        def attempt(creds):
            return vnc.login(self.settings.vnc_host, self.settings.vnc_port, creds,
                             timeout=self.settings.vnc_timeout)
        return self._attempt(attempt, "")

    def check(self) -> None:
        """One full handshake (shared), unless the password is known to be wrong."""
        def attempt(creds):
            result = vnc.check(self.settings.vnc_host, self.settings.vnc_port, creds,
                               timeout=self.settings.vnc_timeout)
            if not result.ok:
                raise vnc.VNCUnavailable(result.detail, result.kind)
            return result
        try:
            result = self._attempt(attempt, None)
        except vnc.VNCUnavailable:
            return
        self._set(True, result.detail, "ok")

    def retry(self) -> None:
        """An admin asked to try the VNC server again (the password may be right now)."""
        if self._locked_key is not None:
            log.info("retrying the VNC login as an admin asked")
        self._locked_key = None

    def _attempt(self, fn, ok_detail):
        serial = self._serial if not self.ok else contextlib.nullcontext()
        with serial:
            try:
                creds = self.settings.vnc_credentials()
            except ConfigError as exc:
                failure = vnc.VNCUnavailable(f"{exc}. Make the file readable by the agent's account.",
                                             vnc.CREDENTIALS)
                self._set(False, str(failure), failure.kind)
                raise failure from exc
            key = _key(creds)
            if self._locked_key is not None:
                if key == self._locked_key:
                    raise vnc.VNCUnavailable(self.detail, vnc.LOCKED)
                log.info("the VNC credentials changed: trying them")
                self._locked_key = None
            try:
                result = fn(creds)
            except vnc.VNCUnavailable as exc:
                if exc.kind == vnc.PASSWORD:
                    self._locked_key = key
                    locked = vnc.VNCUnavailable(f"{exc} {LOCKED_NOTE}", vnc.LOCKED)
                    self._set(False, str(locked), locked.kind)
                    raise locked from exc
                self._set(False, str(exc), exc.kind)
                raise
        if ok_detail is not None:
            self._set(True, ok_detail, "ok")
        return result

    def _set(self, ok: bool, detail: str, kind: str) -> None:
        with self._state:
            changed = ok != self.ok or kind != self.kind
            if ok and not detail:  # a session got in: keep the last check's description
                detail = self.detail if self.ok else "the VNC server accepted a session"
            self.ok, self.kind, self.detail = ok, kind, detail
        if changed:
            if ok:
                log.info("VNC server usable: %s", detail)
            else:
                log.warning("VNC server not usable: %s", detail)
            if self.on_change is not None:
                self.on_change()
