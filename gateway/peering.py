"""Node to node: forward an agent's stream to the node where its viewer waits.

Behind a load balancer an agent's stream (``/ws/agent/stream/<session>``)
can land on any node, while the viewer waits on the node it reached
(DESIGN.md §6). The node that receives the stream opens the same route on
the waiting node's internal address and splices the two; the waiting node
checks the stream's one-time token as usual, so forwarding needs no trust
of its own.
"""

from __future__ import annotations

import logging

import gevent

from agents.protocol.framing import FramedWebSocket, FramingError
from agents.transport import TLSOptions, TransportError, open_websocket

log = logging.getLogger(__name__)

INTERNAL = TLSOptions(insecure_dev=True)  # node addresses are on the private network
CONNECT_TIMEOUT = 5.0


def forward_stream(agent_ws: FramedWebSocket, address: str, session: str, max_message: int) -> None:
    """Splice ``agent_ws`` with the same stream route on the node at ``address``."""
    url = f"ws://{address}/ws/agent/stream/{session}"
    try:
        peer = open_websocket(url, INTERNAL, timeout=CONNECT_TIMEOUT, max_message=max_message)
    except TransportError as exc:
        log.warning("stream %s: node at %s unreachable: %s", session, address, exc)
        agent_ws.close_with(1011, "The viewer's node is unreachable")
        return

    def agent_to_peer():
        # The agent's frames are masked for us; the peer wants ours masked too.
        try:
            while (data := agent_ws.read_message()) is not None:
                peer.write_message(data)
        except (OSError, FramingError) as exc:
            log.debug("stream %s agent→node: %r", session, exc)

    def peer_to_agent():
        try:
            peer.pump(agent_ws)
        except (OSError, FramingError) as exc:
            log.debug("stream %s node→agent: %r", session, exc)

    log.info("stream %s forwarded to the node at %s", session, address)
    workers = [gevent.spawn(agent_to_peer), gevent.spawn(peer_to_agent)]
    gevent.wait(workers, count=1)
    peer.close_with(1000, "stream ended")
    agent_ws.close_with(1000, "stream ended")
    gevent.killall(workers, timeout=2)
