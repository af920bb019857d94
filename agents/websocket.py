"""The one WebSocket I/O driver: sockets, websockify's handshake, locks, the pump loop.

Both ends use websockify's ``websockify.websocket.WebSocket`` state machine
(handshake, control frames, close handling); the frame codec
(``agents.protocol.wsframe``) and the relay's cut-through parser
(``agents.protocol.cutthrough``) are pure and live apart. This subclass
changes websockify's buffer handling, which was written for small
non-blocking reads:

* reads are 256 KiB, not 4 KiB, and land in a ``bytearray`` decoded with an
  offset, so a 1 MiB frame costs one copy instead of hundreds;
* every frame length is checked against ``max_message`` before its payload is
  buffered (RFC 6455 §5.2 lets a peer announce 2**63 bytes): an oversized
  frame closes the connection with 1009 instead of exhausting memory;
* writes use ``sendall``: with blocking (or gevent-cooperative) sockets a
  partial write never surfaces as ``WebSocketWantWriteError``; one lock per
  socket keeps frames from two writers (a pump and a pong, a close) whole.

The bulk paths copy nothing in Python (see ``bench/``):

* ``write_buffer`` sends a payload read straight into a ``FrameBuffer``: the
  header is written in front of it and the mask applied in place;
* ``pump`` drives a ``CutThrough`` parser: it reads into the parser's reused
  buffer and writes each piece it forwards before the next read.

Errors are ``agents.protocol.wsframe``'s (``FramingError``, ``MessageTooBig``),
re-exported here with websockify's want-read/want-write signals.
"""

# Over 300 lines: websockify's WebSocket is one class, and every override of
# its I/O (reads, writes, close, handshake quirks) has to live on it.

from __future__ import annotations

import functools
import os
import socket
import threading
import warnings
from urllib.parse import urlsplit

from .protocol.cutthrough import START_SIZE, Control, CutThrough, Fail, Forward
from .protocol.wsframe import (DEFAULT_MAX_MESSAGE, READ_SIZE, CloseCode, FrameBuffer, FramingError, MessageTooBig,
                               Opcode, parse_close, parse_header, xor_mask)

with warnings.catch_warnings():
    # websockify warns that it is slower without numpy; our masking is not its.
    warnings.simplefilter("ignore")
    from websockify.websocket import (
        WebSocket,
        WebSocketWantReadError,
        WebSocketWantWriteError,
    )

MAX_PARTS = 256  # pieces per sendmsg() before they are joined instead

__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "READ_SIZE",
    "FrameBuffer",
    "FramedWebSocket",
    "FramingError",
    "MessageTooBig",
    "WebSocketWantReadError",
    "WebSocketWantWriteError",
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
        #: ``on_pong(payload)``, if set, hears every pong (a round-trip probe,
        #: ``gateway.quality``): control frames only, never data.
        self.on_pong = None

    @classmethod
    def established(cls, sock, *, client: bool, max_message: int = DEFAULT_MAX_MESSAGE) -> FramedWebSocket:
        """A WebSocket on ``sock`` whose handshake happened elsewhere (tests, benchmarks)."""
        ws = cls(max_message)
        ws.socket, ws.client, ws._state = sock, client, "done"
        return ws

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
            total = sum(map(len, parts))
            sent = 0
            try:
                while sent < total:
                    n = _sendmsg(sock, parts)
                    sent += n
                    if sent < total:  # a partial write; the whole one (the common case) drops nothing
                        _advance(parts, n)
            except BaseException:
                if 0 < sent < total:  # torn: keep the rest for close_with()
                    self._unsent = b"".join(bytes(p) for p in parts)
                raise

    def pump(self, sink, on_data=None, *, size: int = READ_SIZE, start_size: int = START_SIZE,
             quantum=None, tee=None) -> None:
        """Forward this WebSocket's data to ``sink`` until it closes; returns then.

        ``sink`` is another ``FramedWebSocket`` on the server side (frames
        are re-sent unmasked, each received piece as a fragment of the same
        message) or a plain socket (payload only). ``on_data(n)`` counts
        payload bytes; ``quantum()``, if given, caps each read (a scheduler
        sharing one loop among many pumps). ``tee(pieces)``, if given, sees
        the payload pieces (bytes-likes, no frame headers) of each write
        right after it went out: views into the reused buffer, so a tee that
        keeps them copies them before it returns (session recording). Limits are those of
        ``read_message``: frames and messages above ``max_message`` close
        with 1009, protocol errors as websockify closes them. OSError from
        either side propagates.
        """
        reframe = isinstance(sink, FramedWebSocket)
        if reframe and sink.client:
            raise ValueError("pump() re-frames unmasked: the sink must be a server-side WebSocket")
        parser = CutThrough(client=self.client, max_message=self.max_message, reframe=reframe,
                            size=size, start_size=start_size)
        write = sink._send_parts if reframe else functools.partial(_sendmsg_all, sink)
        # What websockify's own reader already holds comes first.
        while self.pending():
            try:
                message = self.recvmsg()
            except WebSocketWantReadError:
                break
            if message is None:
                return
            self._carry_out([parser.message(message)], write, on_data, tee, reframe)
        if self._partial_msg:
            partial, self._partial_msg = self._partial_msg, b""
            self._carry_out([parser.resume(partial)], write, on_data, tee, reframe)
        if self._received_close or self.socket is None:
            return
        leftover, self._recv_buffer = bytes(self._recv_buffer), bytearray()
        if not self._carry_out(parser.receive(leftover), write, on_data, tee, reframe):
            return
        read_buffer, received = parser.read_buffer, parser.received
        while True:
            sock = self.socket
            if sock is None:  # closed under us by another thread or greenlet
                return
            n = sock.recv_into(read_buffer(None if quantum is None else max(1024, quantum())))
            if not n:
                self._closed_abnormally()
                return
            commands = received(n)
            # The common read, one Forward of data (measured: ~6 % of the pump's CPU per GB at
            # 32 KiB reads went to the general path's calls); everything else as _carry_out says.
            if len(commands) == 1 and tee is None and type(command := commands[0]) is Forward:
                write(command.parts)
                if command.payload and on_data is not None:
                    on_data(command.payload)
            elif not self._carry_out(commands, write, on_data, tee, reframe):
                return

    def _carry_out(self, commands: list, write, on_data, tee=None, reframe: bool = True) -> bool:
        """Do what the parser said, in order; False once this WebSocket is closing."""
        for command in commands:
            kind = type(command)
            if kind is Forward:
                if tee is None:
                    write(command.parts)
                else:
                    # Taken before the write, which consumes the list as it sends.
                    pieces = _payload_pieces(command.parts) if reframe else list(command.parts)
                    write(command.parts)
                    if command.payload:
                        tee(pieces)
                if command.payload and on_data is not None:
                    on_data(command.payload)
            elif kind is Control:
                if not self._on_control(command):
                    return False
            else:
                self._on_fail(command)
                return False
        return True

    def _on_control(self, control: Control) -> bool:
        """Answer a ping, count a pong; a close as websockify's ``_recvmsg`` handles it (§5.5.1)."""
        if control.opcode == Opcode.PING:
            self.handle_ping(control.payload)
            return True
        if control.opcode == Opcode.PONG:
            self.handle_pong(control.payload)
            return True
        self._received_close = True
        code, reason = parse_close(control.payload)  # the parser checked it
        if code is None:
            self.close_code, self.close_reason = int(CloseCode.NO_STATUS), "No close status code specified by peer"
        else:
            self.close_code = code
            if reason is not None:
                self.close_reason = reason
        try:
            self.shutdown(None, code, reason)
        except (OSError, WebSocketWantWriteError):
            pass
        return False

    def _on_fail(self, fail: Fail) -> None:
        if fail.code == CloseCode.MESSAGE_TOO_BIG:
            self._recv_queue.clear()
            self._too_big()
            return
        if fail.in_close:  # the peer has closed already, as websockify's reader records it
            self._received_close = True
        try:
            self.shutdown(socket.SHUT_RDWR, int(fail.code), fail.reason)
        except (OSError, WebSocketWantWriteError):
            pass
        self._received_close = True

    def _closed_abnormally(self) -> None:
        """The peer went away without a close frame (1006, §7.1.5)."""
        if self.close_code is None:
            self.close_code = int(CloseCode.ABNORMAL)
            self.close_reason = "Connection closed abnormally"
            self._sent_close = self._received_close = True
        self._close()

    # -- websockify overrides --

    def handle_ping(self, data):
        self.control_in += 1
        super().handle_ping(data)

    def handle_pong(self, data):
        self.control_in += 1
        if self.on_pong is not None:
            self.on_pong(data)

    def ping_stamped(self, payload_at) -> None:
        """Send a ping whose payload is ``payload_at()``, made once the write lock is ours.

        A round trip timed from then leaves out the wait for a writer blocked on
        this socket (a pump on a slow peer), which is ours, not the network's.
        """
        with self._write_lock:
            self.ping(payload_at())

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
            self._closed_abnormally()
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
            self.shutdown(None, int(CloseCode.MESSAGE_TOO_BIG), "Message too big")
        except (OSError, WebSocketWantWriteError):
            pass
        # After shutdown(), which records a "locally initiated" 1000.
        self.close_code = int(CloseCode.MESSAGE_TOO_BIG)
        self.close_reason = "Message too big"
        self._received_close = True
        if self.socket is not None:
            self._close()

    def _decode_at(self, buf: bytearray, offset: int):
        """websockify's frame dict for the frame at ``buf[offset:]``; None while incomplete."""
        header = parse_header(buf, offset)
        if header is None:
            return None
        if header.length > self.max_message:
            raise MessageTooBig(f"frame of {header.length} bytes")
        total = header.header_length + header.length
        if len(buf) - offset < total:
            return None
        start = offset + header.header_length
        with memoryview(buf) as view:
            body = view[start:start + header.length]
            payload = xor_mask(body, header.mask) if header.mask is not None else bytes(body)
        return {
            "fin": header.fin,
            "opcode": header.opcode,
            "masked": header.mask is not None,
            "length": total,
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



def _payload_pieces(parts: list) -> list:
    """The payload in re-framed ``parts``: each piece is its own frame header, then
    its data unless the piece is empty (``CutThrough._piece``). The header's
    second byte is its length (0: no data part follows; 126/127: longer forms)."""
    pieces = []
    i, n = 0, len(parts)
    while i < n:
        if parts[i][1] & 0x7F:
            pieces.append(parts[i + 1])
            i += 2
        else:
            i += 1
    return pieces


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
    left = sum(map(len, parts))
    while left:
        n = _sendmsg(sock, parts)
        left -= n
        if left:
            _advance(parts, n)
