"""Node to node: forward an agent's stream to the node where its viewer waits.

Behind a load balancer an agent's stream (``/ws/agent/stream/<session>``)
can land on any node, while the viewer waits on the node it reached
(DESIGN.md §6). The node that receives the stream opens the same route on
the waiting node's internal address and splices the two; the waiting node
checks the stream's one-time token as usual, so forwarding needs no trust
of its own. Node addresses (``node:<id>``, ``node_address``) are on the
private network the nodes share: ``dial`` opens plain ``ws://`` straight to
them, with no TLS and no HTTP proxy (the agent's dialling, ``agents.transport``,
is for the internet and is not used here).

Both hops are watched for silence (``liveness``): the agent's, pinged from
here, and the peer node's, which pings us and answers our pings. A frozen
agent closes the peer socket with 1011 and the reason, which the viewer's
node records and shows as is; a draining node closes it with 1012.
"""

from __future__ import annotations

import logging
import socket
import time

import gevent
import gevent.event

from agents.websocket import FramedWebSocket, FramingError

from . import tcp
from .errors import PeerUnreachable
from .liveness import Pinger, Watch
from .quality import RttProbe
from .relay import CLOSE_PEER_GONE, DEFAULT_PING_INTERVAL, SILENT

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
#: What the peer node is told when the peer node itself falls silent (it will not hear it).
PEER_SILENT = "The gateway node of the viewer stopped answering"


def dial(address: str, path: str, *, max_message: int, timeout: float = CONNECT_TIMEOUT) -> FramedWebSocket:
    """A WebSocket to ``path`` on the node at ``address`` (``host:port``), handshake done
    (RFC 6455 §4.1) within ``timeout``; then no deadline (a session idles for hours).

    Raises ``PeerUnreachable`` if the node cannot be reached or does not complete the handshake.
    """
    host, _, port = address.rpartition(":")
    url = f"ws://{address}{path}"
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except (OSError, ValueError) as exc:  # ValueError: no port in the address
        raise PeerUnreachable(f"cannot reach {address}: {exc}") from exc
    try:
        tcp.tune(sock)
        ws = FramedWebSocket(max_message)
        ws.connect_over(sock, url)
    except (OSError, FramingError) as exc:
        sock.close()
        raise PeerUnreachable(f"WebSocket to {url} failed: {exc}") from exc
    sock.settimeout(None)
    return ws


class Forward:
    """One agent stream spliced to the viewer's node; ``run()`` blocks until it ends."""

    def __init__(self, agent_ws: FramedWebSocket, address: str, session: str, max_message: int, *,
                 ping_interval: float = DEFAULT_PING_INTERVAL, on_agent_rtt=None, path: str | None = None):
        self.agent_ws = agent_ws
        #: The same route on the viewer's node (a file stream's, ``/ws/agent/files/…``, too).
        self.path = path or f"/ws/agent/stream/{session}"
        self.address = address
        self.session = session
        self.max_message = max_message
        self.ping_interval = ping_interval
        self.peer: FramedWebSocket | None = None
        self.from_agent = 0  # messages, counted by the one loop that reads them anyway
        self.to_agent = 0
        self._close: tuple[int, str] = (1000, "stream ended")
        self._done = gevent.event.Event()
        #: This node ⇄ the agent (``quality``): the viewer's node sees only the hop to us, so
        #: ``on_agent_rtt(probe)`` hands this leg on (the session's live record), between pings.
        self.agent_rtt = RttProbe()
        self._on_agent_rtt = on_agent_rtt
        self._rtt_told = 0

    def stop(self, code: int, reason: str) -> None:
        """End the forward (drain): the peer node hears ``code`` and ``reason``."""
        if not self._done.is_set():
            self._close = (code, reason)
        self._done.set()

    def run(self) -> None:
        try:
            self.peer = dial(self.address, self.path, max_message=self.max_message)
        except PeerUnreachable as exc:
            log.warning("stream %s: node at %s unreachable: %s", self.session, self.address, exc)
            self.agent_ws.close_with(1011, "The viewer's node is unreachable")
            return
        log.info("stream %s forwarded to the node at %s", self.session, self.address)
        workers = [gevent.spawn(self._agent_to_peer), gevent.spawn(self._peer_to_agent)]
        for w in workers:
            w.link(lambda _g: self._done.set())
        watch = Watch(self.ping_interval, {"agent": self.agent_ws, "peer": self.peer}, time.monotonic())
        pinger = Pinger()
        self.agent_ws.on_pong = lambda data: self.agent_rtt.pong(data, time.monotonic())
        self._ping_agent(pinger)
        try:
            while not self._done.wait(watch.step):
                dead, ping = watch.tick(time.monotonic(), {"agent": self.from_agent, "peer": self.to_agent})
                if dead == "agent":
                    log.info("stream %s: the agent fell silent", self.session)
                    self._close = (CLOSE_PEER_GONE, SILENT["agent"])
                    break
                if dead == "peer":
                    log.info("stream %s: the viewer's node at %s fell silent", self.session, self.address)
                    self._close = (CLOSE_PEER_GONE, PEER_SILENT)
                    break
                if ping:
                    self._ping_agent(pinger)
                    pinger.ping(self.peer)
                self._tell_agent_rtt()
        finally:
            pinger.stop()
            code, reason = self._close
            self.peer.close_with(code, reason)
            self.agent_ws.close_with(1000, "stream ended")
            gevent.killall(workers, timeout=2)

    # -- the agent leg's round trips (quality): once per ping and pong, never per frame --

    def _ping_agent(self, pinger: Pinger) -> None:
        pinger.ping(self.agent_ws, lambda: self.agent_rtt.payload(time.monotonic()))

    def _tell_agent_rtt(self) -> None:
        """Hand a new sample on, from this loop (not the pump that read the pong)."""
        count = self.agent_rtt.count  # not len(samples), which stops growing once it keeps its last 1,024
        if self._on_agent_rtt is None or count == self._rtt_told:
            return
        self._rtt_told = count
        try:
            self._on_agent_rtt(self.agent_rtt)
        except Exception as exc:  # advisory: the stream goes on
            log.info("stream %s: agent round trip not recorded: %s", self.session, exc)

    def _agent_to_peer(self) -> None:
        # The agent's frames are masked for us; the peer wants ours masked too.
        try:
            while (data := self.agent_ws.read_message()) is not None:
                self.from_agent += 1
                self.peer.write_message(data)
        except (OSError, FramingError) as exc:
            log.debug("stream %s agent→node: %r", self.session, exc)

    def _peer_to_agent(self) -> None:
        try:
            self.peer.pump(self.agent_ws, self._count)
        except (OSError, FramingError) as exc:
            log.debug("stream %s node→agent: %r", self.session, exc)

    def _count(self, n: int) -> None:
        self.to_agent += n
