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
  partial write never surfaces as ``WebSocketWantWriteError``; one lock per
  socket keeps frames from two writers (a pump and a pong, a close) whole;
* masking (RFC 6455 §5.3) XORs aligned 64-bit words with numpy, in place.

The bulk paths copy nothing in Python (see ``bench/``):

* ``write_buffer`` sends a payload read straight into a ``FrameBuffer``: the
  header is written in front of it and the mask applied in place;
* ``pump`` forwards data frames cut-through: it reads into one reused
  buffer, unmasks in place and writes each piece as soon as it arrived,
  as a fragment of the same message (§5.4), so message boundaries are kept
  while no message is ever held whole; control frames are handled as
  websockify would.

Exceptions::

    FramingError                 the peer broke RFC 6455 or our limits
    └── MessageTooBig            a frame or message above max_message
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from urllib.parse import urlsplit

import warnings

from .wsframe import (DEFAULT_MAX_MESSAGE, HEADROOM, READ_SIZE, FrameBuffer, FramingError, MessageTooBig,
                      encode_header, xor_into as _xor_small, xor_mask)

with warnings.catch_warnings():
    # websockify warns that it is slower without numpy; our masking is not its.
    warnings.simplefilter("ignore")
    from websockify.websocket import (
        WebSocket,
        WebSocketWantReadError,
        WebSocketWantWriteError,
    )

PUMP_START_SIZE = 16 * 1024  # a pump's buffer grows to READ_SIZE only under bulk traffic
MAX_PARTS = 256  # pieces per sendmsg() before they are joined instead
CLOSE_TOO_BIG = 1009

__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "FrameBuffer",
    "FramedWebSocket",
    "FramingError",
    "MessageTooBig",
    "WebSocketWantReadError",
    "WebSocketWantWriteError",
    "xor_mask",
]


class FramedWebSocket(WebSocket):
    """websockify's ``WebSocket`` with bounded, large-buffer I/O."""

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE):
        super().__init__()
        self.max_message = max_message
        self._recv_buffer = bytearray()
        # Reentrant: close_with() holds it around websockify's shutdown(),
        # which writes through _send(). Under gevent this is a gevent lock.
        self._write_lock = threading.RLock()
        self._unsent: bytes = b""  # the rest of frames a killed writer left half-sent
        #: Pings and pongs received: signs of life that carry no data (a
        #: watchdog samples this; data is counted by whoever reads it).
        self.control_in = 0

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
            except OSError:
                if self._received_close:  # our close reply met a peer already gone
                    self._close()
                    return None
                raise

    def write_message(self, data: bytes) -> None:
        """Send ``data`` as one binary message."""
        while True:
            try:
                self.sendmsg(bytes(data))
                return
            except WebSocketWantWriteError:
                continue

    def settimeout(self, value: float | None) -> None:
        """The socket's ``settimeout``; on a WebSocket another thread or greenlet has
        just closed, ``BrokenPipeError`` like every other call (websockify asserts)."""
        sock = self.socket
        if sock is None:
            raise BrokenPipeError("WebSocket is closed")
        sock.settimeout(value)

    def close_with(self, code: int = 1000, reason: str | None = None) -> None:
        """Send a close frame (best effort) and drop the socket; safe from any thread.

        ``shutdown`` before ``close`` so that a reader blocked on this socket
        in another thread or greenlet wakes up instead of hanging.
        """
        sock = self.socket
        if sock is None:
            return
        # A writer blocked on a peer that does not read holds the lock: then
        # no close frame, just the shutdown below (which wakes that writer).
        locked = self._write_lock.acquire(timeout=1.0)
        try:
            if reason is not None:
                reason = reason.encode("utf-8")[:120].decode("utf-8", "ignore")
            if locked and self._unsent:
                # Finish the frame a killed pump left half-written, or the
                # close frame would land inside its payload.
                sock.settimeout(1.0)
                data, self._unsent = self._unsent, b""
                sock.sendall(data)
            if locked and not self._sent_close:
                self.shutdown(None, code, reason)
        except (OSError, WebSocketWantWriteError, AssertionError):
            pass
        finally:
            if locked:
                self._write_lock.release()
            self.socket = None
            for step in (lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
                try:
                    step()
                except OSError:
                    pass

    def connect_over(self, sock, uri: str, origin: str | None = None, protocols: tuple[str, ...] = ()) -> None:
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
                self.connect(uri, origin=origin, protocols=list(protocols))
                return
            except WebSocketWantReadError:
                continue
            except Exception as exc:  # websockify raises bare Exception
                if isinstance(exc, (OSError, FramingError)):
                    raise
                raise FramingError(str(exc)) from exc

    # -- bulk paths: no copies in Python --

    def write_buffer(self, fb: FrameBuffer, length: int) -> None:
        """Send ``fb.payload[:length]`` as one binary message.

        The header goes into the buffer's headroom and a client masks the
        payload in place (RFC 6455 §5.3, a fresh key per frame), so the
        payload is clobbered: read the next one into ``fb.payload`` anew.
        """
        if length > self.max_message:
            raise MessageTooBig(f"message of {length} bytes")
        self._send_parts([fb.frame(length, os.urandom(4) if self.client else None)])

    def _send_parts(self, parts: list) -> None:
        """Write ``parts`` (bytes-likes) in order, whole frames only, under the write lock."""
        with self._write_lock:
            sock = self.socket
            if sock is None:
                raise BrokenPipeError("WebSocket is closed")
            if self._send_buffer:
                parts.insert(0, self._send_buffer)
                self._send_buffer = b""
            if len(parts) > MAX_PARTS:
                parts = [b"".join(parts)]
            total = sum(len(p) for p in parts)
            sent = 0
            try:
                while parts:
                    n = _sendmsg(sock, parts)
                    sent += n
                    _advance(parts, n)
            except BaseException:
                if 0 < sent < total:  # torn: keep the rest for close_with()
                    self._unsent = b"".join(bytes(p) for p in parts)
                raise

    def pump(self, sink, on_data=None, *, size: int = READ_SIZE, start_size: int = PUMP_START_SIZE,
             quantum=None) -> None:
        """Forward this WebSocket's data to ``sink`` until it closes; returns then.

        ``sink`` is another ``FramedWebSocket`` on the server side (frames
        are re-sent unmasked, each received piece as a fragment of the same
        message) or a plain socket (payload only). ``on_data(n)`` counts
        payload bytes; ``quantum()``, if given, caps each read (a scheduler
        sharing one loop among many pumps). Limits are those of
        ``read_message``: frames and messages above ``max_message`` close
        with 1009, protocol errors as websockify closes them. OSError from
        either side propagates.
        """
        _Pump(self, sink, on_data, size, start_size, quantum).run()

    # -- websockify overrides --

    def handle_ping(self, data):
        self.control_in += 1
        super().handle_ping(data)

    def handle_pong(self, data):
        self.control_in += 1

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

    def _unmask(self, buf, mask):
        return xor_mask(bytes(buf), bytes(mask))

    def _sendmsg(self, opcode, msg):
        if self.client:
            frame = self._encode_hybi(opcode, msg, os.urandom(4))
        else:
            frame = self._encode_hybi(opcode, msg)
        return self._send(frame)

    def _send(self, data):
        with self._write_lock:
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
        with self._write_lock:
            if self._send_buffer and self.socket is not None:
                data, self._send_buffer = self._send_buffer, b""
                self.socket.sendall(data)
            if self._received_close and self._sent_close and self.socket is not None:
                self._close()


def _header(opcode: int, fin: bool, length: int, masked: bool) -> bytes:
    return encode_header(opcode, fin, length)


class _Pump:
    """Cut-through forwarding of one WebSocket's messages (see ``FramedWebSocket.pump``)."""

    def __init__(self, ws: FramedWebSocket, sink, on_data, size: int, start_size: int, quantum=None):
        self.ws = ws
        self.sink = sink
        self.to_ws = isinstance(sink, FramedWebSocket)
        if self.to_ws and sink.client:
            raise ValueError("pump() re-frames unmasked: the sink must be a server-side WebSocket")
        self.on_data = on_data
        self.max_size = max(size, start_size)
        self.quantum = quantum
        self.fb = FrameBuffer(min(start_size, self.max_size))
        self.have = 0            # bytes at the start of the buffer kept from the last read
        self.remaining = 0       # payload bytes still to come in the current data frame
        self.key = None          # its masking key (None: unmasked)
        self.phase = 0           # mask phase of its next payload byte
        self.frame_fin = False   # whether it ends its message
        self.opcode = 0x2        # the message's opcode, for its first fragment to the sink
        self.in_message = False  # inside a fragmented message (RFC 6455 §5.4)
        self.message_size = 0
        self.sink_started = False  # a fragment of the current message went to the sink

    # -- entry --

    def run(self) -> None:
        ws = self.ws
        # What websockify's own reader already holds comes first.
        while ws.pending():
            try:
                message = ws.recvmsg()
            except WebSocketWantReadError:
                break
            if message is None:
                return
            self._emit_whole(message)
        if ws._partial_msg:
            partial, ws._partial_msg = ws._partial_msg, b""
            self.in_message, self.message_size = True, len(partial)
            self._send([*self._piece(partial, final=False)], len(partial))
        if ws._received_close or ws.socket is None:
            return
        leftover = bytes(ws._recv_buffer)
        ws._recv_buffer = bytearray()
        self.fb.buf[:len(leftover)] = leftover
        if self._parse(0, len(leftover), []) is False:
            return
        while self._step():
            pass

    # -- one read --

    def _step(self) -> bool:
        ws, fb = self.ws, self.fb
        sock = ws.socket
        if sock is None:
            return False
        limit = fb.size if self.quantum is None else min(fb.size, self.have + max(1024, self.quantum()))
        n = sock.recv_into(fb.view[self.have:limit])
        if not n:
            if ws.close_code is None:
                ws.close_code = 1006
                ws.close_reason = "Connection closed abnormally"
                ws._sent_close = ws._received_close = True
            ws._close()
            return False
        end = self.have + n
        filled = end == fb.size
        parts: list = []
        carry = self._parse(0, end, parts)
        if carry is False:
            return False
        if filled and fb.size < self.max_size:
            self._grow(carry)
        return True

    def _parse(self, pos: int, end: int, parts: list):
        """Handle buf[pos:end]; send what is complete; keep a partial header. False: stop."""
        fb = self.fb
        payload = 0
        while pos < end:
            if self.remaining:
                take = min(self.remaining, end - pos)
                if self.key is not None:
                    fb.xor(pos, take, self.key, self.phase)
                self.remaining -= take
                self.phase = (self.phase + take) & 3
                final = self.frame_fin and not self.remaining
                parts += self._piece(fb.view[pos:pos + take], final)
                payload += take
                pos += take
                continue
            frame = self._header(pos, end)
            if frame is None:
                break
            if frame is False:
                self._send(parts, payload)
                return False
            fin, opcode, hlen, length, key = frame
            if opcode >= 0x8:
                if end - pos < hlen + length:
                    break  # control frames (≤125 bytes) are handled whole
                body = bytearray(fb.view[pos + hlen:pos + hlen + length])
                if key is not None:
                    _xor_small(body, 0, length, key)
                pos += hlen + length
                self._send(parts, payload)
                parts, payload = [], 0
                if not self._control(fin, opcode, bytes(body)):
                    return False
                continue
            pos += hlen
            self.remaining, self.key, self.phase, self.frame_fin = length, key, 0, fin
            if not length:
                parts += self._piece(b"", fin)
            if fin:
                self.in_message, self.message_size = False, 0
        self._send(parts, payload)
        keep = end - pos
        if keep:
            fb.buf[:keep] = fb.buf[pos:end]
        self.have = keep
        return keep

    def _header(self, pos: int, end: int):
        """(fin, opcode, header length, payload length, key) or None (incomplete) or False (closed)."""
        buf, ws = self.fb.buf, self.ws
        if end - pos < 2:
            return None
        b0, b1 = buf[pos], buf[pos + 1]
        masked = bool(b1 & 0x80)
        length = b1 & 0x7F
        hlen = 2 + (4 if masked else 0)
        if length == 126:
            hlen += 2
            if end - pos < hlen:
                return None
            (length,) = struct.unpack_from(">H", buf, pos + 2)
        elif length == 127:
            hlen += 8
            if end - pos < hlen:
                return None
            (length,) = struct.unpack_from(">Q", buf, pos + 2)
        if end - pos < hlen:
            return None
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        if b0 & 0x70:
            return self._fail(1002, "Protocol error: reserved bits set")
        if masked == ws.client:
            return self._fail(1002, "Procotol error: Frame masked" if masked else "Procotol error: Frame not masked")
        if opcode >= 0x8:
            if opcode > 0xA:
                return self._fail(1003, "Unsupported: Unknown opcode 0x%02x" % opcode)
            if not fin or length > 125:
                return self._fail(1002, "Protocol error: bad control frame")
        elif opcode == 0x1:
            return self._fail(1003, "Unsupported: Text frames are not supported")
        elif opcode == 0x0 and not self.in_message:
            return self._fail(1002, "Procotol error: Unexpected continuation frame")
        elif opcode == 0x2 and self.in_message:
            return self._fail(1002, "Procotol error: Unexpected new frame")
        elif opcode not in (0x0, 0x2):
            return self._fail(1003, "Unsupported: Unknown opcode 0x%02x" % opcode)
        if opcode < 0x8:
            self.message_size += length
            if length > ws.max_message or self.message_size > ws.max_message:
                ws._recv_queue.clear()
                ws._too_big()
                return False
            if opcode == 0x2:
                self.in_message = True
        key = bytes(buf[pos + hlen - 4:pos + hlen]) if masked else None
        return fin, opcode, hlen, length, key

    def _control(self, fin: bool, opcode: int, payload: bytes) -> bool:
        """A whole control frame; False once the WebSocket is closing."""
        ws = self.ws
        if opcode == 0x9:
            ws.handle_ping(payload)
            return True
        if opcode == 0xA:
            ws.handle_pong(payload)
            return True
        # Close (§5.5.1), as websockify's _recvmsg handles it.
        ws._received_close = True
        code = reason = None
        if len(payload) >= 2:
            (code,) = struct.unpack(">H", payload[:2])
            if len(payload) > 2:
                try:
                    reason = payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    self._fail(1002, "Procotol error: Invalid UTF-8 in close")
                    return False
        if code is None:
            ws.close_code, ws.close_reason = 1005, "No close status code specified by peer"
        else:
            ws.close_code = code
            if reason is not None:
                ws.close_reason = reason
        try:
            ws.shutdown(None, code, reason)
        except (OSError, WebSocketWantWriteError):
            pass
        return False

    def _fail(self, code: int, reason: str) -> bool:
        try:
            self.ws.shutdown(socket.SHUT_RDWR, code, reason)
        except (OSError, WebSocketWantWriteError):
            pass
        self.ws._received_close = True
        return False

    # -- output --

    def _piece(self, data, final: bool) -> list:
        """What goes to the sink for one received piece of the current message."""
        if not self.to_ws:
            return [data] if len(data) else []
        opcode = 0x0 if self.sink_started else self.opcode
        self.sink_started = not final
        return [_header(opcode, final, len(data), False), data] if len(data) else [_header(opcode, final, 0, False)]

    def _emit_whole(self, message: bytes) -> None:
        self._send(self._piece(message, True), len(message))

    def _send(self, parts: list, payload: int) -> None:
        if parts:
            if self.to_ws:
                self.sink._send_parts(parts)
            else:
                _sendmsg_all(self.sink, parts)
        if payload and self.on_data is not None:
            self.on_data(payload)

    def _grow(self, keep: int) -> None:
        """Bulk traffic: a larger buffer, with the kept header bytes moved over."""
        old = self.fb
        self.fb = FrameBuffer(self.max_size)
        self.fb.buf[:keep] = old.buf[:keep]


def _sendmsg(sock, parts: list) -> int:
    """``sock.sendmsg(parts)``; TLS sockets have no sendmsg: one joined send there."""
    try:
        return sock.sendmsg(parts)
    except NotImplementedError:  # ssl.SSLSocket (wss:// agents): nothing was sent
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        return sock.send(data)


def _advance(parts: list, n: int) -> None:
    """Drop the first ``n`` bytes from ``parts`` (after a partial write)."""
    while n:
        first = len(parts[0])
        if n >= first:
            n -= first
            parts.pop(0)
        else:
            parts[0] = memoryview(parts[0])[n:]
            n = 0


def _sendmsg_all(sock, parts: list) -> None:
    if len(parts) > MAX_PARTS:
        parts = [b"".join(parts)]
    while parts:
        _advance(parts, _sendmsg(sock, parts))
