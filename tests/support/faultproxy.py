"""A TCP proxy the test controls: forward, refuse, hang, heal (issue 8 fault tests).

It stands between gateways and a real server (PostgreSQL, Redis) on
127.0.0.1, one thread per direction of each connection::

    proxy = FaultProxy(("127.0.0.1", 5432)).start()
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{proxy.port}/db"
    proxy.hang()     # new connections are accepted but get nothing; existing ones stall
    proxy.refuse()   # new connections are refused (ECONNREFUSED); existing ones flow
    proxy.heal()     # everything flows again
    proxy.stop()

A hang is what a black-holed or frozen server looks like to a client: TCP
says the peer is there, but no byte moves either way. On heal, a
connection whose client gave up meanwhile (it closed its end) is dropped
without passing on what it had sent, as a network that stayed partitioned
longer than the connection lived would; the others resume where they
stopped.
"""

from __future__ import annotations

import select
import socket
import struct
import threading

FORWARD, REFUSE, HANG = "forward", "refuse", "hang"
_TCP_CLOSE_WAIT = 8  # tcpi_state (linux/tcp_states.h): the peer sent FIN
_CHUNK = 65536


class _Link:
    """One client connection and (once flowing) its upstream."""

    def __init__(self, proxy: FaultProxy, client: socket.socket):
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = threading.Event()

    def open_upstream(self) -> None:
        try:
            self.upstream = socket.create_connection(self.proxy.target, timeout=5)
            self.upstream.settimeout(None)
        except OSError:
            self.close()
            return
        for src, dst in ((self.client, self.upstream), (self.upstream, self.client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        flowing = self.proxy._flowing
        try:
            while not self.closed.is_set():
                if not flowing.wait(0.2):
                    continue  # hung: read nothing, so the sender's TCP window fills
                ready, _, _ = select.select([src], [], [], 0.2)
                if not ready or not flowing.is_set():
                    continue
                data = src.recv(_CHUNK)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket close() just closed
            pass
        self.close()

    def client_gone(self) -> bool:
        try:
            info = self.client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        except OSError:
            return True
        return struct.unpack("B", info[:1])[0] == _TCP_CLOSE_WAIT

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self.proxy._forget(self)


class FaultProxy:
    def __init__(self, target: tuple[str, int], port: int = 0):
        self.target = target
        self.port = port
        self.mode = FORWARD
        self.accepted = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._held: list[_Link] = []
        self._listener: socket.socket | None = None
        self._stopped = False

    # -- lifecycle --

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def stop(self) -> None:
        self._stopped = True
        self._close_listener()
        self._flowing.set()
        for link in list(self._links):
            link.close()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: refuse() or stop()
            link = _Link(self, client)
            with self._lock:
                self.accepted += 1
                self._links.add(link)
                hold = self.mode == HANG
                if hold:
                    self._held.append(link)
            if not hold:
                link.open_upstream()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    # -- faults --

    def hang(self) -> None:
        """Accept new connections but pass nothing; stall the existing ones."""
        with self._lock:
            self.mode = HANG
            self._flowing.clear()
        if self._listener is None and not self._stopped:
            self._listen()

    def refuse(self) -> None:
        """Refuse new connections (nothing listens); existing ones keep flowing."""
        with self._lock:
            self.mode = REFUSE
            self._flowing.set()
        self._close_listener()

    def drop(self) -> None:
        """Close every open connection now (a server restart, as clients see it)."""
        for link in list(self._links):
            link.close()

    def heal(self) -> None:
        """Back to forwarding: stalled connections resume, held ones get their upstream."""
        with self._lock:
            self.mode = FORWARD
            held, self._held = self._held, []
            stalled = [link for link in self._links if link.upstream is not None]
        for link in stalled + held:
            if link.client_gone():
                link.close()  # its client gave up during the fault
        self._flowing.set()
        for link in held:
            if not link.closed.is_set():
                link.open_upstream()
        if self._listener is None and not self._stopped:
            self._listen()

    @property
    def open_connections(self) -> int:
        return len(self._links)
