"""One viewing session on the agent: VNC server ⇄ stream WebSocket.

The agent completes the RFB handshake with the VNC server itself (with the
password it holds), then plays an RFB server offering security type None to
the viewer, replays the ServerInit, and from there relays bytes verbatim.
If the VNC server cannot be used, the viewer still gets a proper RFB
failure with the reason (RFC 6143 §7.1.2), so noVNC can show it.
"""

from __future__ import annotations

import logging
import socket
import threading

from .protocol import control
from .protocol.framing import FramedWebSocket, FramingError
from .protocol.rfb import HandshakeError, ServerHandshake, ViewerReady
from .pipe import close_socket, splice
from .transport import TransportError, open_websocket
from . import vnc

log = logging.getLogger(__name__)

VIEWER_TIMEOUT = 30.0


class Stream:
    """Serve ``session``; ``run()`` returns when either side ends."""

    def __init__(self, settings, gateway: str, session: str, token: str, *, on_failure=None):
        self.settings = settings
        self.gateway = gateway
        self.session = session
        self.token = token
        self.on_failure = on_failure
        self.ws: FramedWebSocket | None = None
        self.vnc_sock: socket.socket | None = None
        self._closed = threading.Event()

    def stream_url(self) -> str:
        base = self.gateway.rstrip("/")
        base = "ws" + base[4:] if base.startswith("http") else base
        return f"{base}/ws/agent/stream/{self.session}"

    def run(self) -> None:
        failure = None
        complete = None
        try:
            self.vnc_sock, complete = vnc.connect(self.settings.vnc_host, self.settings.vnc_port,
                                                  self.settings.vnc_secret())
        except vnc.VNCUnavailable as exc:
            failure = str(exc)
            log.warning("session %s: %s", self.session, failure)
        try:
            self.ws = open_websocket(self.stream_url(), self.settings.tls)
            self.ws.write_message(control.encode(control.Attach(token=self.token)))
            ready = self._greet_viewer(complete, failure)
        except (TransportError, FramingError, HandshakeError, OSError) as exc:
            log.warning("session %s: could not serve the viewer: %s", self.session, exc)
            self.close()
            return
        if failure is not None or ready is None:
            if self.on_failure is not None and failure is not None:
                self.on_failure(self.session, failure)
            self.close()
            return
        log.info("session %s: relaying", self.session)
        try:
            if ready.leftover:
                self.vnc_sock.sendall(ready.leftover)
            if complete.leftover:
                self.ws.write_message(complete.leftover)
        except OSError:
            self.close()
            return
        why = splice(self.vnc_sock, self.ws, name=f"session-{self.session[:8]}")
        log.info("session %s ended: %s", self.session, why)
        self.close()

    def _greet_viewer(self, complete, failure: str | None) -> ViewerReady | None:
        hs = ServerHandshake(complete.server_init if complete else None, failure=failure)
        hs.initiate()
        self.ws.settimeout(VIEWER_TIMEOUT)
        self.ws.write_message(hs.data_to_send())
        while not hs.done:
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
        if self._closed.is_set():
            return
        self._closed.set()
        if self.vnc_sock is not None:
            close_socket(self.vnc_sock)
        if self.ws is not None:
            self.ws.close_with(1000, reason)
