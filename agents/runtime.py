"""The agent's main loop: hold the control channel, serve streams, reconnect.

Threads, not gevent: the agent must install with pip alone on Windows,
macOS and Linux. One thread reads the control channel, one sends
heartbeats, one checks the VNC server now and then, and each stream has two.

Staying connected for months: every failure of the control channel, of
whatever kind, ends in a reconnect after ``Backoff`` (quick tries for half a
minute after losing a gateway that was healthy, then exponential with full
jitter up to a minute); a draining gateway's ``Reconnect(after)`` is obeyed
without counting as a failure; only a refused credential stops the agent,
because retrying it cannot help.

Errors: ``CredentialRefused``: the gateway says this credential is unknown or
revoked, so retrying cannot help and the agent stops and says why
(drawn in ``agents/errors.py``).
"""

from __future__ import annotations

import logging
import platform
import random
import socket
import threading
import time

from . import __version__, interfaces
from .backoff import Backoff
from .errors import CredentialRefused
from .files import FileTransfer
from .protocol import control
from .stream import Stream
from .transport import TransportError, open_websocket, websocket_url
from .vncguard import VncGuard
from .wake import send_magic_packet
from .websocket import FramingError

log = logging.getLogger(__name__)

#: A connection that lasted this long means "the gateway was healthy": losing it starts a
#: new quick phase. Shorter ones (a gateway that welcomes then drops us) count as failures,
#: so a flapping gateway is not hammered.
HEALTHY_AFTER = 10.0
#: Spread added to a draining gateway's ``Reconnect.after``, so its agents do not all
#: land on the remaining nodes in the same instant.
RECONNECT_JITTER = 2.0
WELCOME_TIMEOUT = 30.0
#: Seconds between readings of the network interfaces (a DHCP lease or a new cable
#: changes them; hello and heartbeats carry the last reading).
INTERFACES_EVERY = 300.0

def bounded(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary with "…" if it must be cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    if not text[limit - 1].isspace():  # mid-word: back to the last space, unless that loses too much
        space = cut.rfind(" ")
        cut = cut[:space] if space > limit // 2 else cut
    return cut.rstrip(" ,;:") + "…"


class Agent:
    def __init__(self, settings, gateway: str, credential: str):
        self.settings = settings
        self.gateway = gateway.rstrip("/")
        self.credential = credential
        self.stop_event = threading.Event()
        self.streams: dict[str, Stream] = {}
        self._send_lock = threading.Lock()
        self._ws = None
        self._conn: control.AgentConnection | None = None
        self._probe_now = threading.Event()
        #: The VNC server's state, and every login to it (no retries of a wrong password).
        self.vnc = VncGuard(settings, on_change=self._vnc_changed)
        self.welcomed_at: float | None = None
        self.backoff = Backoff()
        self.rng = random.random
        #: Set by a ``Reconnect`` from a draining gateway: seconds to wait before dialling again.
        self.reconnect_in: float | None = None
        #: This PC's wakeable interfaces (``agents.interfaces``), read at start and every few minutes.
        self.interfaces: tuple = ()
        self._interfaces_at: float | None = None

    # -- info --

    def info(self) -> control.AgentInfo:
        return control.AgentInfo(version=__version__[:64], os=f"{platform.system()} {platform.release()}"[:128],
                                 hostname=socket.gethostname()[:255], vnc_ok=self.vnc.ok,
                                 vnc_detail=bounded(self.vnc.detail, control.MAX_TEXT),
                                 vnc_state=self.vnc.kind[:control.MAX_STATE], interfaces=self.interfaces)

    def read_interfaces(self) -> None:
        """Read the network interfaces again if the last reading is older than ``INTERFACES_EVERY``."""
        now = time.monotonic()
        if self._interfaces_at is None or now - self._interfaces_at >= INTERFACES_EVERY:
            self.interfaces = tuple(interfaces.collect())
            self._interfaces_at = now

    def probe_vnc(self) -> None:
        """One full handshake with the VNC server (unless a wrong password stopped the tries);
        heartbeats carry the outcome."""
        self.vnc.check()

    def _vnc_changed(self) -> None:
        self._send(control.Heartbeat(info=self.info()))  # tell the gateway now, not at the next beat

    # -- main loop --

    def run_forever(self) -> None:
        """Connect, serve, reconnect with backoff; returns on stop().

        Raises ``CredentialRefused`` when the gateway refuses the credential.
        """
        backoff = self.backoff
        self.read_interfaces()
        self.probe_vnc()
        threading.Thread(target=self._prober, daemon=True, name="vnc-probe").start()
        while not self.stop_event.is_set():
            self.welcomed_at = None
            self.reconnect_in = None
            try:
                self.serve_once()
            except CredentialRefused:
                raise
            except (TransportError, FramingError, control.ControlError, OSError) as exc:
                if not self.stop_event.is_set():  # stop() closing the socket is no news
                    log.warning("gateway connection: %s", exc)
            except Exception:  # a bug must cost a reconnect, never the agent
                log.exception("control channel failed unexpectedly")
            if self.stop_event.is_set():
                break
            if self.reconnect_in is not None:
                # Asked, not failed: wait as told, then dial with a fresh quick phase (the
                # balancer sends us to a node that stays).
                if self.stop_event.wait(self.reconnect_in):
                    break
                backoff.reset()
                continue
            if self.welcomed_at is not None and time.monotonic() - self.welcomed_at >= HEALTHY_AFTER:
                backoff.reset()
            delay = backoff.next()
            log.info("reconnecting in %.1f s", delay)
            self.stop_event.wait(delay)

    def stop(self) -> None:
        self.stop_event.set()
        self._probe_now.set()
        ws = self._ws
        if ws is not None:
            ws.close_with(1001, "agent stopping")
        for stream in list(self.streams.values()):
            stream.close("agent stopping")

    def control_url(self) -> str:
        return websocket_url(self.gateway, "/ws/agent")

    def serve_once(self) -> None:
        """One control connection, from hello until it drops."""
        ws = open_websocket(self.control_url(), self.settings.tls, max_message=control.DEFAULT_MAX_MESSAGE)
        conn = control.AgentConnection()
        self._conn, self._ws = conn, ws
        try:
            ws.settimeout(WELCOME_TIMEOUT)
            ws.write_message(conn.send(control.Hello(credential=self.credential, info=self.info())))
            first = ws.read_message()
            if first is None:
                self._check_close(ws)
                raise TransportError(f"gateway closed the control channel ({ws.close_code} {ws.close_reason})")
            (event,) = conn.receive(first)  # a Welcome or a Refused; anything else raises
            if isinstance(event, control.Refused):
                if event.code in control.REFUSED_FINAL:
                    raise CredentialRefused(event.message)
                raise TransportError(f"gateway refused: {event.message}")
            self.welcomed_at = time.monotonic()
            log.info("connected to %s as machine %r (heartbeat %.0f s)", self.gateway, event.machine,
                     event.heartbeat)
            beat = threading.Thread(target=self._heartbeats, args=(ws, conn, event.heartbeat), daemon=True,
                                    name="heartbeat")
            beat.start()
            # The gateway answers our pings; silence for 3 heartbeats means it is gone.
            ws.settimeout(event.heartbeat * 3)
            while not self.stop_event.is_set():
                message = ws.read_message()
                if message is None:
                    self._check_close(ws)
                    log.info("gateway closed the control channel: %s %s", ws.close_code, ws.close_reason or "")
                    return
                for event in conn.receive(message):
                    self._handle(event)
                if self.reconnect_in is not None:
                    return
        finally:
            self._ws = None
            ws.close_with(1000, "bye")

    @staticmethod
    def _check_close(ws) -> None:
        if ws.close_code == 4003 and ws.close_reason and "revoked" in ws.close_reason.lower():
            raise CredentialRefused(ws.close_reason)

    def _handle(self, event) -> None:
        if isinstance(event, control.OpenStream):
            if event.session in self.streams:
                log.warning("gateway asked twice for session %s; ignored", event.session)
                return
            stream = Stream(self.settings, self.gateway, event.session, event.token,
                            login=self.vnc.login, on_failure=self._report_failure)
            self.streams[event.session] = stream
            threading.Thread(target=self._run_stream, args=(stream,), daemon=True,
                             name=f"stream-{event.session[:8]}").start()
        elif isinstance(event, control.OpenFiles):
            # Its own thread and socket: a file never holds up the control channel or a session.
            transfer = FileTransfer(self.settings, self.gateway, event, on_failure=self._report_failure)
            threading.Thread(target=transfer.run, daemon=True, name=f"files-{event.transfer[:8]}").start()
        elif isinstance(event, control.RetryVnc):
            self.vnc.retry()
            self._probe_now.set()
        elif isinstance(event, control.Wake):
            # Its own thread: a slow resolver or socket call must not hold up the control channel.
            threading.Thread(target=send_magic_packet, args=(event.mac, event.broadcast), daemon=True,
                             name="wake").start()
        elif isinstance(event, control.Reconnect):
            self.reconnect_in = event.after + self.rng() * RECONNECT_JITTER
            log.info("gateway asks us to reconnect in %.0f s (%s); reconnecting in %.1f s",
                     event.after, event.reason or "no reason given", self.reconnect_in)
        elif isinstance(event, control.Refused):
            if event.code in control.REFUSED_FINAL:
                raise CredentialRefused(event.message)
            log.warning("gateway: %s", event.message)

    def _run_stream(self, stream: Stream) -> None:
        try:
            stream.run()
        except Exception:  # one broken session must never take the agent down
            log.exception("session %s failed", stream.session)
            stream.close("The agent hit an error")
        finally:
            self.streams.pop(stream.session, None)

    def _report_failure(self, session: str, reason: str) -> None:
        self._send(control.StreamFailed(session=session, reason=reason[:control.MAX_TEXT]))

    def _send(self, event) -> None:
        conn, ws = self._conn, self._ws
        if ws is None:
            return
        try:
            with self._send_lock:
                ws.write_message(conn.send(event))
        except control.LocalProtocolError:
            # Not welcomed yet (a VNC check finished first): the first heartbeat tells the news.
            log.debug("%s held back until the gateway welcomes us", type(event).__name__)
        except (OSError, FramingError) as exc:
            log.info("could not send %s: %s", type(event).__name__, exc)

    def _heartbeats(self, ws, conn: control.AgentConnection, interval: float) -> None:
        while not self.stop_event.wait(interval):
            if self._ws is not ws:
                return
            try:
                with self._send_lock:
                    ws.write_message(conn.send(control.Heartbeat(info=self.info())))
                    ws.ping()
            except Exception:  # the reader notices the dead socket and reconnects
                return

    def _prober(self) -> None:
        """Re-check the VNC server now and then, in its own thread so a slow
        server never delays a heartbeat."""
        while True:
            self._probe_now.wait(self.vnc.next_check_in())
            self._probe_now.clear()
            if self.stop_event.is_set():
                return
            try:
                self.read_interfaces()
                self.probe_vnc()
            except Exception:
                log.exception("VNC check failed unexpectedly")
