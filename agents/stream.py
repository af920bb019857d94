"""One viewing session on the agent: VNC server ⇄ stream WebSocket.

Order matters: the agent dials the stream WebSocket and, at the same time,
logs in to the VNC server (with the credentials it holds): neither waits
for the other, and the stream attaches as soon as it is open, so the
gateway's wait for the agent ends at once. Then it plays an RFB server offering security
type None to the viewer; the viewer's ClientInit says whether the desktop is
shared (RFC 6143 §7.3.1), which the agent passes on in its own ClientInit,
then it replays the server's ServerInit and from there relays bytes verbatim
(through TLS when the server switched to it). If the VNC server cannot be
used, the viewer still gets a proper RFB failure with a sentence for the
person at the viewer (RFC 6143 §7.1.2), so noVNC can show it, followed by a
normal WebSocket close; the gateway records the same sentence (``StreamFailed``),
while the admin's (cause, address, fix) goes to the agent's state and log.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from . import vnc
from .pipe import close_socket, splice
from .protocol import control
from .protocol.rfb import HandshakeError, ServerHandshake, ViewerReady
from .transport import TransportError, open_websocket, websocket_url
from .websocket import FramedWebSocket, FramingError

log = logging.getLogger(__name__)

VIEWER_TIMEOUT = 30.0
LINGER = 1.0  # seconds a refused viewer gets to close its side first (noVNC does at once)


class LoginAhead:
    """``login()`` run in a thread of its own while the stream dials (the VNC login is a few round
    trips to the VNC server, and a TLS handshake with some: it need not wait for the dial)."""

    def __init__(self, login):
        self._done = threading.Event()
        self._login = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(login,), daemon=True, name="vnc-login").start()

    def _run(self, login) -> None:
        try:
            self._login = login()
        except BaseException as exc:  # handed to result(), in the stream's own thread
            self._error = exc
        finally:
            self._done.set()

    def result(self):
        """The login (a ``vnc.Login``) once done; raises what ``login()`` raised."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._login

    def discard(self) -> None:
        """The stream failed: close the login's VNC connection once it is made (never waited for)."""
        def close() -> None:
            self._done.wait()
            if self._login is not None:
                close_socket(self._login.sock)

        threading.Thread(target=close, daemon=True, name="vnc-login-discard").start()


class Stream:
    """Serve ``session``; ``run()`` returns when either side ends.

    ``login()`` returns a ``vnc.Login`` or raises ``vnc.VNCUnavailable`` (the
    agent's ``VncGuard.login``, which also keeps the VNC state);
    ``on_failure(session, reason)`` is called when the session cannot be
    served (no stream, or no usable VNC server), so the gateway can tell the
    viewer and record why.
    """

    def __init__(self, settings, gateway: str, session: str, token: str, *, login=None, on_failure=None):
        self.settings = settings
        self.gateway = gateway
        self.session = session
        self.token = token
        self.login = login or self._login
        self.on_failure = on_failure
        self.ws: FramedWebSocket | None = None
        self.vnc_sock: socket.socket | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def stream_url(self) -> str:
        return websocket_url(self.gateway, f"/ws/agent/stream/{self.session}")

    def run(self) -> None:
        ahead = LoginAhead(self.login)
        try:
            ws = open_websocket(self.stream_url(), self.settings.tls)
            ws.write_message(control.encode(control.Attach(token=self.token)))
        except (TransportError, FramingError, OSError) as exc:
            ahead.discard()
            log.warning("session %s: could not open the stream to the gateway: %s", self.session, exc)
            if self.on_failure is not None:
                self.on_failure(self.session, f"the agent could not open the stream: {exc}")
            return
        if not self._adopt(ws=ws):
            ahead.discard()
            return
        failure = login = None
        try:
            login = ahead.result()
        except vnc.VNCUnavailable as exc:
            failure = exc
            log.warning("session %s: %s", self.session, exc)
        else:
            if not self._adopt(sock=login.sock):
                return
        # The gateway records a failure as the session's end reason, which the viewer's page
        # shows too: so the employee's sentence (the admin's, with the VNC server's address and
        # the fix, is the agent's VNC state on the PC's admin page and in this log). Sent once
        # the viewer's first bytes came through — the gateway has paired the stream by then, so
        # it records the reason instead of failing the viewer before its RFB refusal.
        paired = (lambda: self._failed(failure.employee)) if failure is not None else None
        try:
            hs, ready = self._greet_viewer(failure.employee if failure else None, on_paired=paired)
        except (FramingError, HandshakeError, OSError) as exc:
            log.warning("session %s: the viewer's RFB handshake failed: %s", self.session, exc)
            self.close("RFB handshake with the viewer failed")
            return
        if failure is not None:
            self._linger()  # the viewer reads its refusal and closes; the record is written first
            self.close(failure.employee)
            return
        if ready is None:
            self.close("The viewer left during the RFB handshake")
            return
        try:
            sock, complete = login.finish(ready.client_init_shared, timeout=self.settings.vnc_timeout)
        except vnc.VNCUnavailable as exc:
            log.warning("session %s: %s", self.session, exc)
            self._failed(exc.employee)
            self.close(exc.employee)
            return
        with self._lock:
            self.vnc_sock = sock  # TLS-wrapped when the server switched to TLS
        if self._closed.is_set():
            close_socket(sock)
            return
        log.info("session %s: relaying (%s, %s)", self.session, vnc.describe(complete),
                 "shared" if ready.client_init_shared else "exclusive")
        try:
            hs.send_server_init(complete.server_init)
            self.ws.write_message(hs.data_to_send())
            if ready.leftover:
                sock.sendall(ready.leftover)
            if complete.leftover:
                self.ws.write_message(complete.leftover)
        except (OSError, FramingError):
            self.close()
            return
        why = splice(sock, self.ws, name=f"session-{self.session[:8]}")
        log.info("session %s ended: %s", self.session, why)
        self.close()

    def _login(self) -> vnc.Login:
        s = self.settings
        return vnc.login(s.vnc_host, s.vnc_port, s.vnc_credentials(), timeout=s.vnc_timeout)

    def _failed(self, reason: str) -> None:
        if self.on_failure is not None:
            self.on_failure(self.session, reason)

    def _adopt(self, *, ws=None, sock=None) -> bool:
        """Keep a new socket unless ``close()`` ran meanwhile (then close it)."""
        with self._lock:
            if not self._closed.is_set():
                if ws is not None:
                    self.ws = ws
                if sock is not None:
                    self.vnc_sock = sock
                return True
        if ws is not None:
            ws.close_with(1001, "Session ended")
        if sock is not None:
            close_socket(sock)
        return False

    def _linger(self) -> None:
        """After a refusal: wait (briefly) for the viewer's side to close first."""
        deadline = time.monotonic() + LINGER
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.ws.settimeout(left)
                if self.ws.read_message() is None:
                    return
        except (OSError, FramingError):
            return

    def _greet_viewer(self, failure: str | None, *, on_paired=None) -> tuple[ServerHandshake, ViewerReady | None]:
        """Offer the viewer security None (or refuse with ``failure``) up to its ClientInit;
        ``on_paired()`` runs when the viewer's first bytes arrive, before we answer them."""
        hs = ServerHandshake(failure=failure)  # ServerInit deferred until the VNC server sends it
        hs.initiate()
        deadline = time.monotonic() + VIEWER_TIMEOUT  # for the whole handshake, however it dribbles
        self.ws.settimeout(VIEWER_TIMEOUT)
        self.ws.write_message(hs.data_to_send())
        while not hs.done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HandshakeError(f"the viewer did not finish the RFB handshake within {VIEWER_TIMEOUT:g} s")
            self.ws.settimeout(left)
            data = self.ws.read_message()
            if data is None:
                return hs, None
            if not data:  # an empty message is not end-of-stream (rfb reads b"" as EOF)
                continue
            if on_paired is not None:
                on_paired()
                on_paired = None
            events = hs.receive_data(data)
            out = hs.data_to_send()
            if out:
                self.ws.write_message(out)
            for event in events:
                if isinstance(event, ViewerReady):
                    self.ws.settimeout(None)
                    return hs, event
        return hs, None

    def close(self, reason: str = "Session ended") -> None:
        """End the session from any thread; idempotent."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            sock, ws = self.vnc_sock, self.ws
        if sock is not None:
            close_socket(sock)
        if ws is not None:
            ws.close_with(1000, reason)
