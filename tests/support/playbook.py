"""Transcript tests for the pure protocols, as mitmproxy's ``Playbook``.

``>> event``: the connection under test sends ``event`` (its bytes must decode
back to it); ``<< event``: the peer's ``event`` arrives, as the bytes the
peer's encoder makes (or raw ``bytes``, for junk), and must come out as
itself. Steps chain left to right::

    Playbook(control.AgentConnection()) >> Hello(...) << Welcome(...)

A step the connection refuses raises its error from the line that wrote it,
so ``pytest.raises`` wraps exactly the step that must fail.
"""

from __future__ import annotations


class Playbook:
    def __init__(self, conn, *, encode=None, decode=None):
        from agents.protocol import control

        self.conn = conn
        self.encode = encode or control.encode
        #: decodes what the connection sent (a table of events the peer reads)
        self.decode = decode or (lambda data: control.decode(data, _peer_table(conn)))
        #: every step so far: (">>" or "<<", event, bytes on the wire)
        self.transcript: list[tuple[str, object, bytes]] = []

    def __rshift__(self, event) -> Playbook:
        data = self.conn.send(event)
        assert isinstance(data, bytes)
        assert self.decode(data) == event, (data, event)
        self.transcript.append((">>", event, data))
        return self

    def __lshift__(self, event) -> Playbook:
        data = event if isinstance(event, (bytes, bytearray)) else self.encode(event)
        events = self.conn.receive(data)
        if not isinstance(event, (bytes, bytearray)):
            assert events == [event], (events, event)
        self.transcript.append(("<<", events[0] if events else None, bytes(data)))
        return self

    @property
    def state(self):
        return self.conn.state


def _peer_table(conn) -> dict:
    from agents.protocol import control

    if isinstance(conn, control.AgentConnection):
        return control.AGENT_TO_GATEWAY
    return control.GATEWAY_TO_AGENT
