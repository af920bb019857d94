"""One viewing session on the agent: VNC server ⇄ stream WebSocket.

Order matters: the agent first attaches the stream WebSocket (so the
gateway's wait for the agent ends at once), then connects to the VNC server
and completes the RFB handshake with it (with the password it holds), then
plays an RFB server offering security type None to the viewer, replays the
ServerInit, and from there relays bytes verbatim. If the VNC server cannot
be used, the viewer still gets a proper RFB failure with the reason
(RFC 6143 §7.1.2), so noVNC can show it, followed by a normal WebSocket close.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from .protocol import control
from .protocol.framing import FramedWebSocket, FramingError
from .protocol.rfb import HandshakeError, ServerHandshake, ViewerReady
from .pipe import close_socket, splice
from .transport import TransportError, open_websocket
from . import vnc

log = logging.getLogger(__name__)

VIEWER_TIMEOUT = 30.0


class Stream:
    """Serve ``session``; ``run()`` returns when either side ends.

    ``on_vnc(ok, detail, kind)`` is told what the VNC server did;
    ``on_failure(session, reason)`` is called when the session cannot be
    served (no stream, or no usable VNC server), so the gateway can tell the
    viewer and record why.
    """

    def __init__(self, settings, gateway: str, session: str, token: str, *, on_failure=None, on_vnc=None):
        self.settings = settings
        self.gateway = gateway
        self.session = session
        self.token = token
        self.on_failure = on_failure
        self.on_vnc = on_vnc
        self.ws: FramedWebSocket | None = None
        self.vnc_sock: socket.socket | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def stream_url(self) -> str:
        base = self.gateway.rstrip("/")
        base = "ws" + base[4:] if base.startswith("http") else base
        return f"{base}/ws/agent/stream/{self.session}"

    def run(self) -> None:
        try:
            ws = open_websocket(self.stream_url(), self.settings.tls)
            ws.write_message(control.encode(control.Attach(token=self.token)))
        except (TransportError, FramingError, OSError) as exc:
            log.warning("session %s: could not open the stream to the gateway: %s", self.session, exc)
            if self.on_failure is not None:
                self.on_failure(self.session, f"the agent could not open the stream: {exc}")
            return
        if not self._adopt(ws=ws):
            return
        failure = None
        complete = None
        try:
            sock, complete = vnc.connect(self.settings.vnc_host, self.settings.vnc_port,
                                         self._password(), timeout=self.settings.vnc_timeout)
        except vnc.VNCUnavailable as exc:
            failure = str(exc)
            log.warning("session %s: %s", self.session, failure)
            self._tell_vnc(False, failure, exc.kind)
            # The gateway records this as the session's end reason; sent before the
            # viewer's refusal so it is there when the stream closes.
            if self.on_failure is not None:
                self.on_failure(self.session, failure)
        else:
            self._tell_vnc(True, "", "")
            if not self._adopt(sock=sock):
                return
        try:
            ready = self._greet_viewer(complete, failure)
        except (FramingError, HandshakeError, OSError) as exc:
            log.warning("session %s: the viewer's RFB handshake failed: %s", self.session, exc)
            self.close("RFB handshake with the viewer failed")
            return
        if ready is None:
            self.close(failure or "The viewer left during the RFB handshake")
            return
        log.info("session %s: relaying", self.session)
        try:
            if ready.leftover:
                self.vnc_sock.sendall(ready.leftover)
            if complete.leftover:
                self.ws.write_message(complete.leftover)
        except (OSError, FramingError):
            self.close()
            return
        why = splice(self.vnc_sock, self.ws, name=f"session-{self.session[:8]}")
        log.info("session %s ended: %s", self.session, why)
        self.close()

    def _password(self) -> str | None:
        from .config import ConfigError

        try:
            return self.settings.vnc_secret()
        except ConfigError as exc:
            log.warning("session %s: %s; trying without a VNC password", self.session, exc)
            return None

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

    def _tell_vnc(self, ok: bool, detail: str, kind: str) -> None:
        if self.on_vnc is not None:
            self.on_vnc(ok, detail, kind)

    def _greet_viewer(self, complete, failure: str | None) -> ViewerReady | None:
        hs = ServerHandshake(complete.server_init if complete else None, failure=failure)
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
                return None
            if not data:  # an empty message is not end-of-stream (rfb reads b"" as EOF)
                continue
            events = hs.receive_data(data)
            out = hs.data_to_send()
            if out:
                self.ws.write_message(out)
            for event in events:
                if isinstance(event, ViewerReady):
                    self.ws.settimeout(None)
                    return event
        return None

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
