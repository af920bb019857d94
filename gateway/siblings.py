"""Workers of one ``serve --workers``: hand an agent's stream to the sibling whose viewer waits.

The kernel spreads new connections among the workers of one port
(``SO_REUSEPORT``), so an agent's stream for a session lands on the viewer's
worker only one time in N. Between machines the stream is then relayed
node to node (``peering``), a second relay hop; between workers of one
machine there is no need: the worker that accepted it passes the socket
itself to its sibling over a Unix socket (``SCM_RIGHTS``), and the sibling
goes on as if it had accepted it. No byte is copied, and the session runs
in one process as on a single node.

The hand-over happens right after our 101 answer: the agent, a WebSocket
client, sends nothing before it (RFC 6455 §4.1), so nothing of its is
buffered on the giving side. The giving side waits for the sibling's
acknowledgement before it lets go; without one (the sibling is gone or
stuck) it keeps the stream and relays it node to node as before.

The folder of the Unix sockets is the supervisor's, private to the user
(0700); a receiver also checks that its peer runs as the same user.
"""

from __future__ import annotations

import json
import logging
import os
import socket as stdlib_socket
import struct
from pathlib import Path

import gevent
from gevent import socket

from agents.protocol.jsonobject import load_object
from agents.websocket import FramedWebSocket

from .errors import SiblingError

log = logging.getLogger(__name__)

#: How long the giver waits for the sibling to take the socket.
ACK_TIMEOUT = 2.0
ACK = b"k"
MAX_MESSAGE = 1024
#: The streams a sibling may be handed, by the route that received them.
KINDS = frozenset({"session", "transfer"})
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class Siblings:
    """This worker's end: receives its siblings' streams, hands streams to them.

    ``receive(kind, ref, ws)`` runs in a greenlet of its own for each stream
    handed to this worker, with the handshake done (``ws`` server side).
    ``admit(sock)``, if given, counts a handed socket in this worker's
    connection limits (the giver's count let it go): ``None`` refuses it —
    the giver then keeps it and relays node to node, against the same limits —
    else a ``release()`` called once the stream ends.
    """

    def __init__(self, folder: str | os.PathLike, node_id: str, receive, *, max_message: int, admit=None):
        self.folder = Path(folder)
        self.node_id = node_id
        self.max_message = max_message
        self._receive = receive
        self._admit = admit
        self._listener: socket.socket | None = None
        self._accepting = None

    def path(self, node_id: str) -> Path:
        # Node ids are the operator's (config) plus "-w<i>": no path separators in a file name.
        return self.folder / (node_id.replace("/", "_") + ".sock")

    def start(self) -> None:
        path = self.path(self.node_id)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(128)
        self._listener = listener
        self._accepting = gevent.spawn(self._accept_loop)

    def close(self) -> None:
        if self._accepting is not None:
            self._accepting.kill(block=False)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            try:
                self.path(self.node_id).unlink()
            except FileNotFoundError:
                pass

    def reaches(self, node_id: str) -> bool:
        """``node_id`` is a sibling worker of this one (it has a socket in the shared folder)."""
        return node_id != self.node_id and self.path(node_id).exists()

    # -- giving --

    def hand_over(self, node_id: str, ws: FramedWebSocket, kind: str, ref: str) -> None:
        """Pass ``ws``'s socket to sibling ``node_id``; ``SiblingError`` if it did not take it.

        After a return the socket is the sibling's: the caller must neither
        read, write nor close it as a WebSocket (closing its own descriptor is
        fine: the sibling holds another).
        """
        if kind not in KINDS:
            raise ValueError(f"not a stream kind: {kind!r}")
        message = json.dumps({"kind": kind, "ref": ref, "protocol": getattr(ws, "protocol", "") or ""}).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with gevent.Timeout(ACK_TIMEOUT, SiblingError(f"worker {node_id} did not take the stream")):
                conn.connect(str(self.path(node_id)))
                stdlib_socket.send_fds(conn, [message], [ws.socket.fileno()])
                if conn.recv(1) != ACK:
                    raise SiblingError(f"worker {node_id} refused the stream")
        except OSError as exc:
            raise SiblingError(f"worker {node_id} is not reachable: {exc}") from exc
        finally:
            conn.close()

    # -- receiving --

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError as exc:
                if self._listener is None:
                    return
                log.warning("sibling hand-over: accept failed: %s", exc)
                gevent.sleep(0.1)
                continue
            gevent.spawn(self._take, conn)

    def _take(self, conn: socket.socket) -> None:
        fds: list[int] = []
        sock = None
        release = _nothing
        try:
            with gevent.Timeout(ACK_TIMEOUT, SiblingError("the giving worker sent nothing")):
                _check_same_user(conn)
                message, fds, _flags, _addr = stdlib_socket.recv_fds(conn, MAX_MESSAGE, 1)
            if len(fds) != 1:
                raise SiblingError("a hand-over without exactly one socket")
            obj = load_object(message, limit=MAX_MESSAGE, error=SiblingError, what="hand-over message")
            kind, ref, protocol = obj.get("kind"), obj.get("ref"), obj.get("protocol", "")
            if kind not in KINDS or not isinstance(ref, str) or not isinstance(protocol, str):
                raise SiblingError("a hand-over message without its kind and reference")
            sock = socket.socket(fileno=fds.pop())
            counted = self._admit(sock) if self._admit is not None else _nothing
            if counted is None:
                raise SiblingError("this worker is at its connection limit")
            release = counted
            conn.sendall(ACK)
        except (SiblingError, OSError, gevent.Timeout) as exc:
            log.warning("sibling hand-over refused: %s", exc)
            if sock is not None:  # the giver keeps the stream; our descriptor of it goes
                sock.close()
            release()
            return
        finally:
            for fd in fds:
                os.close(fd)
            conn.close()
        ws = FramedWebSocket.established(sock, client=False, max_message=self.max_message)
        ws.protocol = protocol
        try:
            self._receive(kind, ref, ws)
        finally:
            sock.close()
            release()


def _nothing() -> None:
    """The release of a stream no limits counted."""


def _check_same_user(conn: socket.socket) -> None:
    """Only a process of our own user may hand us a socket (the folder is 0700 too)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    _pid, uid, _gid = _PEERCRED.unpack(creds)
    if uid != os.getuid():
        raise SiblingError(f"a hand-over from uid {uid}, not ours")
