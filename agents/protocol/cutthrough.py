"""The relay's cut-through WebSocket parser: bytes in, ``Forward | Control | Fail`` out. Pure.

A relay must not hold a message whole (a framebuffer update may be
megabytes) nor copy it in Python: each piece of a data frame is unmasked in
place in one reused buffer and forwarded as soon as it arrived, re-framed
as a fragment of the same message (RFC 6455 §5.4), so message boundaries
are kept. Control frames (≤125 bytes, §5.5) are handed out whole for the
I/O driver to answer. Commands out, in the order the driver must carry them
out, as mitmproxy's proxy layers do; the driver (``agents.websocket``) owns
the sockets::

    parser = CutThrough(client=False, max_message=..., reframe=True)
    while True:
        n = sock.recv_into(parser.read_buffer())
        for command in parser.received(n): ...

``Forward.parts`` are views into the parser's buffer: write them before
asking for the next ``read_buffer()``, which reuses that memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wsframe import (DEFAULT_MAX_MESSAGE, READ_SIZE, FrameBuffer, FrameHeader, FramingError, MessageTooBig, Opcode,
                      check_header, encode_header, parse_close, parse_header, xor_into)

START_SIZE = 16 * 1024  # the buffer grows to its full size only under bulk traffic
# Plain ints for the per-frame checks: an IntEnum member lookup costs more than the comparison.
_CONTINUATION, _BINARY, _CONTROL = int(Opcode.CONTINUATION), int(Opcode.BINARY), 0x8

__all__ = ["START_SIZE", "Control", "CutThrough", "Fail", "Forward"]


@dataclass(slots=True)
class Forward:
    """Write ``parts`` (bytes-likes) to the sink in order; ``payload`` of their bytes are data.

    Not frozen, unlike the other commands: one is made per relayed read, and a frozen
    dataclass's ``__init__`` (``object.__setattr__`` per field) costs ~0.17 µs more.
    """

    parts: list
    payload: int


@dataclass(frozen=True, slots=True)
class Control:
    """A whole control frame (ping, pong or close; unmasked) for the driver to answer."""

    opcode: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Fail:
    """The peer broke RFC 6455 or our limits: close with ``code`` (1009: too big).

    ``in_close``: what was wrong is the peer's close frame, so its side is closed already.
    """

    code: int
    reason: str
    in_close: bool = False


class CutThrough:
    """Parse one direction of a WebSocket; see the module docstring.

    ``client``: we are the client end, so the peer's frames come unmasked
    (§5.1). ``reframe``: the sink is a server-side WebSocket, so each piece
    goes out as an unmasked frame; otherwise only payload bytes go out (a
    plain socket). After a ``Fail`` or a close ``Control`` nothing more is
    parsed (``done``).
    """

    def __init__(self, *, client: bool = False, max_message: int = DEFAULT_MAX_MESSAGE, reframe: bool = True,
                 size: int = READ_SIZE, start_size: int = START_SIZE):
        self.client = client
        self.max_message = max_message
        self.reframe = reframe
        self.max_size = max(size, start_size)
        self.fb = FrameBuffer(min(start_size, self.max_size))
        self.done = False
        self._start = 0          # unparsed bytes are fb.buf[_start:_end]
        self._end = 0
        self._filled = False     # the last read filled the buffer: grow it before the next
        self._remaining = 0      # payload bytes still to come in the current data frame
        self._key = None         # its masking key (None: unmasked)
        self._phase = 0          # mask phase of its next payload byte
        self._frame_fin = False  # whether it ends its message
        self._in_message = False  # inside a fragmented message (§5.4)
        self._message_size = 0
        self._sink_started = False  # a fragment of the current message went to the sink

    # -- input --

    def read_buffer(self, limit: int | None = None) -> memoryview:
        """Where the next read goes, at most ``limit`` bytes; reuses the memory earlier commands saw."""
        if self._start == self._end and not self._filled:  # all parsed: the common case, inline
            self._start = self._end = 0
        else:
            self._compact()
        fb = self.fb
        stop = fb.size if limit is None else min(fb.size, self._end + limit)
        return fb.view[self._end:stop]

    def received(self, n: int) -> list:
        """``n`` bytes were read into ``read_buffer()``: the commands they make."""
        # One call per relayed read: the parsing is here, not a further call away.
        self._end = end = self._end + n
        fb = self.fb
        self._filled = end == fb.size
        pos = self._start
        commands: list = []
        parts: list = []
        payload = 0
        client = self.client
        while pos < end:
            remaining = self._remaining
            if remaining:
                take = remaining if remaining < end - pos else end - pos
                if self._key is not None:
                    fb.xor(pos, take, self._key, self._phase)
                self._remaining = remaining = remaining - take
                self._phase = (self._phase + take) & 3
                parts += self._piece(fb.view[pos:pos + take], self._frame_fin and not remaining)
                payload += take
                pos += take
                continue
            header = parse_header(fb.buf, pos, end)
            if header is None:
                break
            fin, rsv, opcode, length, mask, hlen = header
            # The common frame, checked inline (one per relayed frame): data, no reserved bits,
            # masked as it must be, opening or continuing a message as it may, within limits.
            if (not rsv and (mask is None) == client
                    and (opcode == _CONTINUATION if self._in_message else opcode == _BINARY)
                    and self._message_size + length <= self.max_message):
                self._message_size += length
                self._in_message = True
            else:
                try:
                    self._admit(header)
                except FramingError as exc:
                    commands += _forward(parts, payload)
                    commands.append(Fail(exc.code, exc.reason))
                    self.done = True
                    return commands
            if opcode >= _CONTROL:
                if end - pos < hlen + length:
                    break  # control frames (≤125 bytes) are handed out whole
                body = bytearray(fb.view[pos + hlen:pos + hlen + length])
                if mask is not None:
                    xor_into(body, 0, length, mask)
                pos += hlen + length
                commands += _forward(parts, payload)
                parts, payload = [], 0
                commands.append(self._control(opcode, bytes(body)))
                if self.done:  # a close: nothing after it is parsed
                    break
                continue
            pos += hlen
            self._remaining, self._key, self._phase, self._frame_fin = length, mask, 0, fin
            if not length:
                parts += self._piece(b"", fin)
            if fin:
                self._in_message, self._message_size = False, 0
        if parts:
            commands.append(Forward(parts, payload))
        self._start = pos
        return commands

    def receive(self, data) -> list:
        """Copy ``data`` in and parse it (for bytes that were not read into ``read_buffer()``).

        Commands from all but the last buffer-full are given bytes of their
        own, as the buffer is reused under them.
        """
        view = memoryview(data)
        commands: list = []
        while len(view) and not self.done:
            if commands:
                commands = [_detach(c) for c in commands]
            into = self.read_buffer()
            k = min(len(into), len(view))
            into[:k] = view[:k]
            view = view[k:]
            commands += self.received(k)
        return commands

    def message(self, data: bytes) -> Forward:
        """Forward a whole message that arrived before the parser took over."""
        return Forward(self._piece(data, True), len(data))

    def resume(self, partial: bytes) -> Forward:
        """Forward the start of a message that arrived before the parser took over."""
        self._in_message, self._message_size = True, len(partial)
        return Forward(self._piece(partial, False), len(partial))

    # -- parsing --

    def _admit(self, header: FrameHeader) -> None:
        """Raise ``FramingError`` unless the frame may come; count a data frame into its message."""
        check_header(header, client=self.client, in_message=self._in_message)
        if header.is_control:
            return
        self._message_size += header.length
        if header.length > self.max_message or self._message_size > self.max_message:
            raise MessageTooBig("Message too big")
        if header.opcode == Opcode.BINARY:
            self._in_message = True

    def _control(self, opcode: int, body: bytes):
        if opcode != Opcode.CLOSE:
            return Control(opcode, body)
        self.done = True  # a close ends the stream (§5.5.1)
        try:
            parse_close(body)
        except FramingError as exc:
            return Fail(exc.code, exc.reason, in_close=True)
        return Control(opcode, body)

    def _piece(self, data, final: bool) -> list:
        """What goes to the sink for one received piece of the current message."""
        n = len(data)
        if not self.reframe:
            return [data] if n else []
        opcode = _CONTINUATION if self._sink_started else _BINARY
        self._sink_started = not final
        # Inline for the short header of small pieces (most interactive traffic).
        head = bytes((opcode | 0x80 if final else opcode, n)) if n < 126 else encode_header(opcode, final, n)
        return [head, data] if n else [head]

    def _compact(self) -> None:
        """Move the kept partial header to the front; after a read that filled it, into a bigger buffer."""
        keep = self._end - self._start
        if not keep and not self._filled:
            self._start = self._end = 0
            return
        old = self.fb
        if self._filled and old.size < self.max_size:
            self.fb = FrameBuffer(self.max_size)
        if keep and (self._start or self.fb is not old):
            self.fb.buf[:keep] = old.buf[self._start:self._end]
        self._start, self._end, self._filled = 0, keep, False


def _forward(parts: list, payload: int) -> list:
    return [Forward(parts, payload)] if parts else []


def _detach(command):
    """``command`` with bytes of its own instead of views into the parser's buffer."""
    if isinstance(command, Forward):
        return Forward([bytes(p) for p in command.parts], command.payload)
    return command
