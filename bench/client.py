"""The viewer side of every path: raw TCP, or an RFC 6455 client on a raw socket.

The same code talks to websockify and to Ponte, so the two are compared with
one client. It is built not to be the bottleneck: 1 MiB ``recv_into`` into a
reused buffer, and in counting mode only frame headers are looked at
(server frames are unmasked, RFC 6455 §5.1), so a saturated stream costs a
few Python operations per MiB. Client frames are masked (§5.3) with one
big-integer XOR — only small messages (requests, 64-byte pings) go that way.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time

READ_SIZE = 1024 * 1024
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class ClientError(Exception):
    """The server broke the protocol or closed early."""


class Closed(ClientError):
    """The server closed the connection (``code`` for WebSocket closes)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def mask_bytes(data: bytes, key: bytes) -> bytes:
    """RFC 6455 §5.3 masking with one big-int XOR (no per-byte Python)."""
    n = len(data)
    if not n:
        return b""
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keystream, "little")).to_bytes(n, "little")


def ws_frame(payload: bytes, opcode: int = OP_BINARY) -> bytes:
    """One masked client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def tcp_connect(host: str, port: int, *, source: str | None = None, timeout: float = 15.0) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Conn:
    """One client connection; ``ws=True`` speaks RFC 6455 (client role)."""

    def __init__(self, sock: socket.socket, ws: bool, leftover: bytes = b""):
        self.sock = sock
        self.ws = ws
        self.collect = True       # payload goes to self.payload, else only counted
        self.payload = bytearray()
        self.counted = 0          # payload bytes seen while not collecting
        self.closed: Closed | None = None
        self._skip = 0            # payload bytes left in the current frame
        self._ctl: bytearray | None = None  # payload of a control frame being read
        self._ctl_op = 0
        self._hdr = b""           # a frame header split across reads
        self._buf = bytearray(READ_SIZE)
        if leftover:
            self._feed(memoryview(leftover))

    # -- sending --

    def send(self, data: bytes) -> None:
        self.sock.sendall(ws_frame(data) if self.ws else data)

    # -- receiving --

    def recv_some(self, buf: bytearray | None = None) -> int:
        """One read; payload bytes counted (not collected) by it, -1 once closed."""
        buf = buf if buf is not None else self._buf
        try:
            n = self.sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            return 0
        if not n:
            self.closed = self.closed or Closed("connection closed")
            return -1
        before = self.counted
        with memoryview(buf) as view:
            self._feed(view[:n])
        if self.closed is not None:
            return -1
        return self.counted - before

    def recv_exact(self, n: int, deadline: float | None = None) -> bytes:
        """Exactly ``n`` payload bytes (raises ``Closed`` if the peer goes first)."""
        self.collect = True
        while len(self.payload) < n:
            if self.closed is not None:
                raise self.closed
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"waited for {n} bytes, have {len(self.payload)}")
                self.sock.settimeout(left)
            if self.recv_some() < 0 and len(self.payload) < n:
                raise self.closed
        out = bytes(self.payload[:n])
        del self.payload[:n]
        return out

    def start_counting(self) -> int:
        """Switch to counting mode; returns payload already buffered (now counted)."""
        self.collect = False
        pending = len(self.payload)
        self.counted += pending
        self.payload.clear()
        return pending

    def close(self) -> None:
        try:
            if self.ws and self.closed is None:
                self.sock.sendall(ws_frame(struct.pack(">H", 1000), OP_CLOSE))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    # -- frame parsing (RFC 6455 §5.2) --

    def _data(self, chunk) -> None:
        if self.collect:
            self.payload += chunk
        else:
            self.counted += len(chunk)

    def _feed(self, view: memoryview) -> None:
        if not self.ws:
            self._data(view)
            return
        pos, end = 0, len(view)
        while pos < end:
            if self._skip:
                take = min(self._skip, end - pos)
                if self._ctl is not None:
                    self._ctl += view[pos:pos + take]
                else:
                    self._data(view[pos:pos + take])
                self._skip -= take
                pos += take
                if not self._skip and self._ctl is not None:
                    self._control()
                continue
            if self._hdr:
                head = self._hdr + bytes(view[pos:pos + 14])
                used_before = len(self._hdr)
            else:
                head = view[pos:pos + 14]
                used_before = 0
            parsed = _parse_header(head)
            if parsed is None:
                self._hdr = bytes(head)
                return
            hlen, opcode, length = parsed
            self._hdr = b""
            pos += hlen - used_before
            if opcode >= OP_CLOSE:
                self._ctl, self._ctl_op = bytearray(), opcode
                if length > 125:
                    raise ClientError("control frame longer than 125 bytes")
            if length:
                self._skip = length
            elif self._ctl is not None:
                self._control()

    def _control(self) -> None:
        payload, op = bytes(self._ctl), self._ctl_op
        self._ctl = None
        if op == OP_PING:
            self.sock.sendall(ws_frame(payload, OP_PONG))
        elif op == OP_CLOSE:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
            reason = payload[2:].decode("utf-8", "replace")
            self.closed = Closed(f"WebSocket closed {code} {reason}".strip(), code)
            try:
                self.sock.sendall(ws_frame(payload[:2], OP_CLOSE))
            except OSError:
                pass


def _parse_header(head) -> tuple[int, int, int] | None:
    """(header length, opcode, payload length) or None if incomplete."""
    avail = len(head)
    if avail < 2:
        return None
    b0, b1 = head[0], head[1]
    if b1 & 0x80:
        raise ClientError("server frames must not be masked (RFC 6455 §5.1)")
    length = b1 & 0x7F
    if length == 126:
        if avail < 4:
            return None
        return 4, b0 & 0x0F, int.from_bytes(head[2:4], "big")
    if length == 127:
        if avail < 10:
            return None
        return 10, b0 & 0x0F, int.from_bytes(head[2:10], "big")
    return 2, b0 & 0x0F, length


def ws_connect(host: str, port: int, path: str, *, headers: dict | None = None, source: str | None = None,
               timeout: float = 15.0) -> Conn:
    """TCP connect plus the opening handshake (RFC 6455 §4.1)."""
    sock = tcp_connect(host, port, source=source, timeout=timeout)
    key = base64.b64encode(os.urandom(16))
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key.decode()}", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ClientError(f"closed during the WebSocket handshake: {data[:200]!r}")
            data += chunk
            if len(data) > 65536:
                raise ClientError("handshake response too long")
        head, _, rest = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ClientError(f"WebSocket refused: {status.decode('latin-1')}")
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        if accept not in head:
            raise ClientError("bad Sec-WebSocket-Accept")
    except BaseException:
        sock.close()
        raise
    return Conn(sock, True, rest)


def rfb_handshake(conn: Conn, timeout: float = 15.0) -> tuple[int, int]:
    """RFC 6143 §7.1–7.3 as a viewer with security None; returns (width, height)."""
    deadline = time.monotonic() + timeout
    version = conn.recv_exact(12, deadline)
    if not version.startswith(b"RFB 003."):
        raise ClientError(f"not RFB: {version!r}")
    conn.send(b"RFB 003.008\n")
    count = conn.recv_exact(1, deadline)[0]
    if count == 0:
        size = struct.unpack(">I", conn.recv_exact(4, deadline))[0]
        raise ClientError("server refused: " + conn.recv_exact(size, deadline).decode("utf-8", "replace"))
    types = conn.recv_exact(count, deadline)
    if 1 not in types:
        raise ClientError(f"security None not offered: {list(types)}")
    conn.send(b"\x01")
    if conn.recv_exact(4, deadline) != b"\x00\x00\x00\x00":
        raise ClientError("SecurityResult failed")
    conn.send(b"\x01")  # ClientInit: shared
    init = conn.recv_exact(24, deadline)
    width, height = struct.unpack(">HH", init[:4])
    name_len = struct.unpack(">I", init[20:24])[0]
    conn.recv_exact(name_len, deadline)
    conn.sock.settimeout(None)
    return width, height


def update_request(w: int, h: int) -> bytes:
    """FramebufferUpdateRequest for a w×h rectangle at (0, 0) (RFC 6143 §7.5.3)."""
    return struct.pack(">BBHHHH", 3, 0, 0, 0, w, h)
