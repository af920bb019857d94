"""WebSocket framing shared by the gateway and the agent.

Both ends use websockify's ``websockify.websocket.WebSocket`` state machine
(handshake, control frames, close handling). This subclass changes only its
buffer handling, which was written for small non-blocking reads:

* reads are 256 KiB, not 4 KiB, and land in a ``bytearray`` decoded with an
  offset, so a 1 MiB frame costs one copy instead of hundreds;
* every frame length is checked against ``max_message`` before its payload is
  buffered (RFC 6455 §5.2 lets a peer announce 2**63 bytes): an oversized
  frame closes the connection with 1009 instead of exhausting memory;
* writes use ``sendall``: with blocking (or gevent-cooperative) sockets a
  partial write never surfaces as ``WebSocketWantWriteError``;
* masking (RFC 6455 §5.3) XORs whole 32-bit words with numpy.

Exceptions::

    FramingError                 the peer broke RFC 6455 or our limits
    └── MessageTooBig            a frame or message above max_message
"""

from __future__ import annotations

import os
import socket
import struct
from urllib.parse import urlsplit

import numpy
from websockify.websocket import (
    WebSocket,
    WebSocketWantReadError,
    WebSocketWantWriteError,
)

DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024
READ_SIZE = 256 * 1024
CLOSE_TOO_BIG = 1009

__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "FramedWebSocket",
    "FramingError",
    "MessageTooBig",
    "WebSocketWantReadError",
    "WebSocketWantWriteError",
    "xor_mask",
]


class FramingError(Exception):
    """The peer sent something RFC 6455 or our limits do not allow."""


class MessageTooBig(FramingError):
    """A frame or a reassembled message is larger than ``max_message``."""


def xor_mask(buf, mask: bytes) -> bytes:
    """Apply a 4-byte WebSocket mask to ``buf`` (RFC 6455 §5.3)."""
    n = len(buf)
    if n == 0:
        return b""
    words = n // 4
    out = bytearray(n)
    if words:
        key = numpy.frombuffer(mask, dtype="<u4", count=1)
        src = numpy.frombuffer(buf, dtype="<u4", count=words)
        numpy.bitwise_xor(src, key, out=numpy.frombuffer(out, dtype="<u4", count=words))
    for i in range(words * 4, n):
        out[i] = buf[i] ^ mask[i % 4]
    return bytes(out)


class FramedWebSocket(WebSocket):
    """websockify's ``WebSocket`` with bounded, large-buffer I/O."""

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE):
        super().__init__()
        self.max_message = max_message
        self._recv_buffer = bytearray()

    # -- helpers that hide websockify's want-read/want-write retry protocol --

    def read_message(self) -> bytes | None:
        """Block until one data message arrives; ``None`` once closed."""
        while True:
            try:
                return self.recvmsg()
            except (WebSocketWantReadError, WebSocketWantWriteError):
                if self.socket is None:
                    return None
                continue

    def write_message(self, data: bytes) -> None:
        """Send ``data`` as one binary message."""
        while True:
            try:
                self.sendmsg(bytes(data))
                return
            except WebSocketWantWriteError:
                continue

    def close_with(self, code: int = 1000, reason: str | None = None) -> None:
        """Send a close frame (best effort) and drop the socket; safe from any thread.

        ``shutdown`` before ``close`` so that a reader blocked on this socket
        in another thread or greenlet wakes up instead of hanging.
        """
        sock = self.socket
        if sock is None:
            return
        try:
            if reason is not None:
                reason = reason.encode("utf-8")[:120].decode("utf-8", "ignore")
            if not self._sent_close:
                self.shutdown(None, code, reason)
        except (OSError, WebSocketWantWriteError, AssertionError):
            pass
        finally:
            self.socket = None
            for step in (lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
                try:
                    step()
                except OSError:
                    pass

    def connect_over(self, sock, uri: str, origin: str | None = None) -> None:
        """Run the client handshake of ``uri`` on an already-connected ``sock``.

        websockify's ``connect()`` opens its own socket with default TLS; the
        agent needs its own (CA bundle, pinning, HTTP CONNECT proxy), so the
        state machine is started past its socket-creation step.
        """
        parts = urlsplit(uri)
        # websockify's connect() sends neither the query string nor the port
        # in Host; both matter (tickets, reverse proxies' virtual hosts).
        self._request_query = parts.query
        self._request_host = parts.netloc.rpartition("@")[2]
        self.socket = sock
        self._state = "headers"
        while True:
            try:
                self.connect(uri, origin=origin)
                return
            except WebSocketWantReadError:
                continue
            except Exception as exc:  # websockify raises bare Exception
                if isinstance(exc, (OSError, FramingError)):
                    raise
                raise FramingError(str(exc)) from exc

    # -- websockify overrides --

    def send_request(self, type, path):
        query = getattr(self, "_request_query", "")
        super().send_request(type, f"{path}?{query}" if query else path)

    def send_header(self, keyword, value):
        if keyword == "Host" and getattr(self, "_request_host", ""):
            value = self._request_host
        super().send_header(keyword, value)

    def _recv(self):
        sock = self.socket
        if sock is None:  # closed under us by another thread
            return False
        data = sock.recv(READ_SIZE)
        if not data:
            return False
        self._recv_buffer += data
        return True

    def _recv_frames(self):
        if not self._recv():
            if self.close_code is None:
                self.close_code = 1006
                self.close_reason = "Connection closed abnormally"
                self._sent_close = self._received_close = True
            self._close()
            return False
        buf = self._recv_buffer
        offset = 0
        try:
            while True:
                frame = self._decode_at(buf, offset)
                if frame is None:
                    break
                offset += frame["length"]
                self._recv_queue.append(frame)
        except MessageTooBig:
            self._recv_buffer = bytearray()
            self._recv_queue.clear()
            self._too_big()
            return True
        if offset:
            del buf[:offset]
        return True

    def _recvmsg(self):
        if len(self._partial_msg) > self.max_message:
            self._partial_msg = b""
            self._too_big()
        return super()._recvmsg()

    def _too_big(self):
        try:
            self.shutdown(None, CLOSE_TOO_BIG, "Message too big")
        except (OSError, WebSocketWantWriteError):
            pass
        # After shutdown(), which records a "locally initiated" 1000.
        self.close_code = CLOSE_TOO_BIG
        self.close_reason = "Message too big"
        self._received_close = True
        if self.socket is not None:
            self._close()

    def _decode_at(self, buf: bytearray, offset: int):
        blen = len(buf) - offset
        if blen < 2:
            return None
        b1 = buf[offset]
        b2 = buf[offset + 1]
        masked = bool(b2 & 0x80)
        hlen = 2 + (4 if masked else 0)
        length = b2 & 0x7F
        if length == 126:
            hlen += 2
            if blen < hlen:
                return None
            (length,) = struct.unpack_from(">H", buf, offset + 2)
        elif length == 127:
            hlen += 8
            if blen < hlen:
                return None
            (length,) = struct.unpack_from(">Q", buf, offset + 2)
        if length > self.max_message:
            raise MessageTooBig(f"frame of {length} bytes")
        if blen < hlen + length:
            return None
        start = offset + hlen
        with memoryview(buf) as view:
            if masked:
                payload = xor_mask(view[start:start + length], bytes(view[start - 4:start]))
            else:
                payload = bytes(view[start:start + length])
        return {
            "fin": bool(b1 & 0x80),
            "opcode": b1 & 0x0F,
            "masked": masked,
            "length": hlen + length,
            "payload": payload,
        }

    def _decode_hybi(self, buf):
        return self._decode_at(bytearray(buf), 0)

    def _unmask(self, buf, mask):
        return xor_mask(bytes(buf), bytes(mask))

    def _sendmsg(self, opcode, msg):
        if self.client:
            frame = self._encode_hybi(opcode, msg, os.urandom(4))
        else:
            frame = self._encode_hybi(opcode, msg)
        return self._send(frame)

    def _send(self, data):
        if self.socket is None:
            raise BrokenPipeError("WebSocket is closed")
        if self._send_buffer:
            data = self._send_buffer + data
            self._send_buffer = b""
        self.socket.sendall(data)
        if self._received_close and self._sent_close:
            self._close()

    def _close(self):
        sock, self.socket = self.socket, None
        if sock is not None:
            sock.close()

    def _flush(self):
        if self._send_buffer and self.socket is not None:
            data, self._send_buffer = self._send_buffer, b""
            self.socket.sendall(data)
        if self._received_close and self._sent_close and self.socket is not None:
            self._close()
