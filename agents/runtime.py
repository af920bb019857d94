"""The agent's main loop: hold the control channel, serve streams, reconnect.

Threads, not gevent: the agent must install with pip alone on Windows,
macOS and Linux. One thread reads the control channel, one sends
heartbeats, and each stream has two.

Exceptions::

    CredentialRefused     the gateway says this credential is unknown or revoked:
                          retrying cannot help, so the agent stops and says why
"""

from __future__ import annotations

import logging
import platform
import random
import socket
import threading
import time

from . import __version__, vnc
from .protocol import control
from .protocol.framing import FramingError
from .stream import Stream
from .transport import TransportError, open_websocket

log = logging.getLogger(__name__)

BACKOFF_MIN = 0.5
BACKOFF_MAX = 60.0
STABLE_AFTER = 60.0
PROBE_EVERY = 4  # heartbeats between full VNC probes


class CredentialRefused(Exception):
    """The gateway refused the machine credential for good (unknown or revoked)."""


class Backoff:
    """Exponential backoff with full jitter: uniform(0, min(cap, base·2ⁿ))."""

    def __init__(self, base: float = BACKOFF_MIN, cap: float = BACKOFF_MAX, rng=random.random):
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng

    def next(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** self.attempt))
        self.attempt += 1
        return max(0.05, self._rng() * ceiling)

    def reset(self) -> None:
        self.attempt = 0


class Agent:
    def __init__(self, settings, gateway: str, credential: str):
        self.settings = settings
        self.gateway = gateway.rstrip("/")
        self.credential = credential
        self.stop_event = threading.Event()
        self.streams: dict[str, Stream] = {}
        self._send_lock = threading.Lock()
        self._ws = None
        self.vnc_ok = False
        self.vnc_detail = "not checked yet"

    # -- info --

    def info(self) -> control.AgentInfo:
        return control.AgentInfo(version=__version__, os=f"{platform.system()} {platform.release()}"[:128],
                                 hostname=socket.gethostname()[:255], vnc_ok=self.vnc_ok,
                                 vnc_detail=self.vnc_detail[:500])

    def probe_vnc(self) -> None:
        self.vnc_ok, self.vnc_detail = vnc.probe(self.settings.vnc_host, self.settings.vnc_port,
                                                 self.settings.vnc_secret())

    # -- main loop --

    def run_forever(self) -> None:
        """Connect, serve, reconnect with backoff; returns on stop()."""
        backoff = Backoff()
        self.probe_vnc()
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                self.serve_once()
            except CredentialRefused:
                raise
            except (TransportError, FramingError, control.ControlError, OSError) as exc:
                log.warning("gateway connection: %s", exc)
            if self.stop_event.is_set():
                break
            if time.monotonic() - started >= STABLE_AFTER:
                backoff.reset()
            delay = backoff.next()
            log.info("reconnecting in %.1f s", delay)
            self.stop_event.wait(delay)

    def stop(self) -> None:
        self.stop_event.set()
        ws = self._ws
        if ws is not None:
            ws.close_with(1001, "agent stopping")
        for stream in list(self.streams.values()):
            stream.close("agent stopping")

    def control_url(self) -> str:
        base = self.gateway
        base = "ws" + base[4:] if base.startswith("http") else base
        return f"{base}/ws/agent"

    def serve_once(self) -> None:
        """One control connection, from hello until it drops."""
        ws = open_websocket(self.control_url(), self.settings.tls, max_message=control.DEFAULT_MAX_MESSAGE)
        self._ws = ws
        try:
            ws.write_message(control.encode(control.Hello(credential=self.credential, info=self.info())))
            ws.settimeout(30)
            first = ws.read_message()
            if first is None:
                raise TransportError(f"gateway closed the control channel ({ws.close_code} {ws.close_reason})")
            event = control.decode_from_gateway(first)
            if isinstance(event, control.Refused):
                if event.code in control.REFUSED_FINAL:
                    raise CredentialRefused(event.message)
                raise TransportError(f"gateway refused: {event.message}")
            if not isinstance(event, control.Welcome):
                raise control.ControlError("expected welcome")
            log.info("connected to %s as machine %r", self.gateway, event.machine)
            beat = threading.Thread(target=self._heartbeats, args=(ws, event.heartbeat), daemon=True,
                                    name="heartbeat")
            beat.start()
            # The gateway answers our pings; silence for 3 heartbeats means it is gone.
            ws.settimeout(event.heartbeat * 3)
            while not self.stop_event.is_set():
                message = ws.read_message()
                if message is None:
                    if ws.close_code == 4003 and ws.close_reason and "revoked" in ws.close_reason:
                        raise CredentialRefused(ws.close_reason)
                    log.info("gateway closed the control channel: %s %s", ws.close_code, ws.close_reason or "")
                    return
                self._handle(control.decode_from_gateway(message))
        finally:
            self._ws = None
            ws.close_with(1000, "bye")

    def _handle(self, event) -> None:
        if isinstance(event, control.OpenStream):
            stream = Stream(self.settings, self.gateway, event.session, event.token,
                            on_failure=self._report_failure)
            self.streams[event.session] = stream
            threading.Thread(target=self._run_stream, args=(stream,), daemon=True,
                             name=f"stream-{event.session[:8]}").start()
        elif isinstance(event, control.EndStream):
            stream = self.streams.get(event.session)
            if stream is not None:
                stream.close(event.reason)
        elif isinstance(event, control.Refused):
            if event.code in control.REFUSED_FINAL:
                raise CredentialRefused(event.message)
            log.warning("gateway: %s", event.message)
        else:
            raise control.ControlError(f"unexpected {type(event).__name__}")

    def _run_stream(self, stream: Stream) -> None:
        try:
            stream.run()
        except Exception:  # one broken session must never take the agent down
            log.exception("session %s failed", stream.session)
        finally:
            self.streams.pop(stream.session, None)

    def _report_failure(self, session: str, reason: str) -> None:
        self.vnc_ok, self.vnc_detail = False, reason
        self._send(control.StreamFailed(session=session, reason=reason[:500]))

    def _send(self, event) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            with self._send_lock:
                ws.write_message(control.encode(event))
        except (OSError, FramingError) as exc:
            log.info("could not send %s: %s", type(event).__name__, exc)

    def _heartbeats(self, ws, interval: float) -> None:
        count = 0
        while not self.stop_event.wait(interval):
            if self._ws is not ws:
                return
            count += 1
            if count % PROBE_EVERY == 0 or not self.vnc_ok:
                self.probe_vnc()
            self._send(control.Heartbeat(info=self.info()))
            try:
                with self._send_lock:
                    ws.ping()
            except Exception:  # the reader notices the dead socket and reconnects
                return
