"""Fuzz targets: every parser that reads bytes from outside the gateway or the agent.

Each target takes one input (``bytes`` chosen by the fuzzer) and must end in
one of the parser's own errors or a result — any other exception, a hang or
an inconsistency it asserts on is a crash. ``SEEDS`` gives each target a few
valid transcripts to start from, so the fuzzer begins inside the protocol
instead of at its front door. Run them with ``python -m tests.fuzz.run``.
"""

from __future__ import annotations

import struct

from tests.fuzz import web_targets

# Imported by ``load()`` under atheris' instrumentation, not here.
control = rfb = rfbinput = cutthrough = wsframe = nodebus = filenames = filestream = None

SERVER_INIT = struct.pack(">HH16sI", 640, 480, bytes(range(16)), 4) + b"desk"


def _u32(n: int) -> bytes:
    return struct.pack(">I", n)


def load() -> None:
    """Import the parsers (call inside ``atheris.instrument_imports()``)."""
    global control, rfb, rfbinput, cutthrough, wsframe, nodebus, filenames, filestream
    from agents.protocol import filenames as _filenames
    from agents.protocol import filestream as _filestream
    from agents.protocol import control as _control
    from agents.protocol import cutthrough as _cutthrough
    from agents.protocol import rfb as _rfb
    from agents.protocol import rfbinput as _rfbinput
    from agents.protocol import wsframe as _wsframe
    from gateway import nodebus as _nodebus

    control, rfb, cutthrough, wsframe, nodebus = _control, _rfb, _cutthrough, _wsframe, _nodebus
    rfbinput = _rfbinput
    filenames, filestream = _filenames, _filestream
    web_targets.load()


# -- the agent control protocol (JSON messages on /ws/agent) ---------------------------------------

def _control_target(table_name: str):
    def target(data: bytes) -> None:
        table = getattr(control, table_name)
        try:
            event = control.decode(data, table)
        except control.ControlError:
            return
        # Whatever decodes must encode and decode to the same event.
        assert control.decode(control.encode(event), table) == event
    return target


def _control_structured(data: bytes) -> None:
    """JSON objects built from the input, so the fuzzer explores fields rather than JSON syntax."""
    import json

    import atheris

    fdp = atheris.FuzzedDataProvider(data)
    tables = [control.AGENT_TO_GATEWAY, control.GATEWAY_TO_AGENT, control.STREAM_ATTACH]
    table = tables[fdp.ConsumeIntInRange(0, 2)]
    kinds = list(table) + ["bogus"]
    obj = {"type": kinds[fdp.ConsumeIntInRange(0, len(kinds) - 1)]}
    names = ["credential", "info", "mode", "session", "reason", "machine", "heartbeat", "code", "message",
             "token", "after", "version", "os", "hostname", "vnc_ok", "vnc_detail"]
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        name = names[fdp.ConsumeIntInRange(0, len(names) - 1)]
        obj[name] = _value(fdp, depth=0)
        if name == "info" and fdp.ConsumeBool():
            obj[name] = {n: _value(fdp, 1) for n in names[11:] if fdp.ConsumeBool()}
    try:
        message = json.dumps(obj).encode()
    except ValueError:  # NaN etc. are fine for json.dumps; surrogates are not encodable by .encode()
        return
    try:
        event = control.decode(message, table)
    except control.ControlError:
        return
    assert control.decode(control.encode(event), table) == event


def _value(fdp, depth: int):
    kind = fdp.ConsumeIntInRange(0, 6 if depth < 2 else 4)
    if kind == 0:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 600))
    if kind == 1:
        return fdp.ConsumeInt(8)
    if kind == 2:
        return fdp.ConsumeFloat()
    if kind == 3:
        return fdp.ConsumeBool()
    if kind == 4:
        return None
    if kind == 5:
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return {fdp.ConsumeUnicodeNoSurrogates(8): _value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))}


def _control_seeds() -> list[bytes]:
    c = control
    info = c.AgentInfo(version="0.1.0", os="Linux 6", hostname="pc", vnc_ok=True, vnc_detail="ok")
    events = [c.Hello(credential="1.secret", info=info), c.Heartbeat(info=info),
              c.StreamFailed(session="s" * 32, reason="VNC down"), c.Welcome(machine="pc", heartbeat=15),
              c.Refused(code="revoked", message="no"), c.OpenStream(session="s", token="t"),
              c.RetryVnc(), c.Reconnect(after=1.5, reason="draining"),
              c.Attach(token="t")]
    return [c.encode(e) for e in events]


# -- RFB handshakes ---------------------------------------------------------------------------------

def _chunks(data: bytes, sizes: bytes):
    """Split ``data`` by the sizes the fuzzer chose (1..16 bytes each, cycling)."""
    pos, i = 0, 0
    while pos < len(data):
        n = (sizes[i % len(sizes)] % 16) + 1 if sizes else len(data)
        yield data[pos:pos + n]
        pos += n
        i += 1


def _outcome(hs, pieces):
    """Feed ``pieces`` (then EOF); the final event or error, and every byte the handshake sent."""
    sent = bytearray()
    if isinstance(hs, rfb.ServerHandshake):
        hs.initiate()
    sent += hs.data_to_send()
    try:
        for piece in pieces:
            events = hs.receive_data(piece)
            sent += hs.data_to_send()
            if events:
                return events[0], bytes(sent)
        hs.receive_data(b"")
    except rfb.HandshakeError as exc:
        sent += hs.data_to_send()
        return (type(exc), str(exc)), bytes(sent)
    raise AssertionError("EOF neither failed nor finished the handshake")


def _rfb_target(make):
    def target(data: bytes) -> None:
        if not data:
            return
        split = data[0] % 8
        sizes, stream = data[1:1 + split], data[1 + split:]
        whole = _outcome(make(), [stream] if stream else [])
        chunked = _outcome(make(), list(_chunks(stream, sizes)))
        # RFB is a byte stream: how TCP cut it must never change what happened.
        if _same(whole, chunked):
            return
        # Unless what we send is random by design (a TLS ClientHello, a DH public key): then the
        # same input twice differs too, and only what happened and how much was sent must agree.
        again = _outcome(make(), [stream] if stream else [])
        assert not _same(whole, again) and _same(_sizes(whole), _sizes(chunked)), (whole, chunked)
    return target


def _sizes(outcome):
    result, sent = outcome
    return result, len(sent)


def _same(a, b) -> bool:
    (ra, sa), (rb, sb) = a, b
    if isinstance(ra, tuple) or isinstance(rb, tuple):
        return ra == rb and sa == sb
    # Events: equal except for leftover, which depends on how much arrived at once.
    strip = lambda e: {k: v for k, v in vars(e).items() if k != "leftover"}  # noqa: E731
    return type(ra) is type(rb) and strip(ra) == strip(rb) and sa == sb


def _client():
    return rfb.ClientHandshake("vncpass1")


def _viewer():
    init = rfb.ServerInit.create(640, 480, bytes(range(16)), "desk")
    return rfb.ServerHandshake(init)


def _client_seeds() -> list[bytes]:
    ok = SERVER_INIT + b"\x00\x00\x00\x00"
    return [b"\x00" + b"RFB 003.008\n\x01\x01" + _u32(0) + ok,
            b"\x00" + b"RFB 003.008\n\x02\x13\x02" + bytes(16) + _u32(0) + ok,
            b"\x03\x01\x02\x03" + b"RFB 003.003\n" + _u32(2) + bytes(16) + _u32(0) + ok,
            b"\x00" + b"RFB 003.007\n\x01\x01" + ok,
            b"\x00" + b"RFB 003.008\n\x00" + _u32(5) + b"nope!",
            b"\x00" + b"RFB 003.008\n\x01\x02" + bytes(16) + _u32(1) + _u32(3) + b"bad"]


def _viewer_seeds() -> list[bytes]:
    return [b"\x00RFB 003.008\n\x01\x01", b"\x00RFB 003.007\n\x01\x00", b"\x00RFB 003.003\n\x01",
            b"\x02\x01\x05RFB 003.889\n\x01\x01\x00\x00\x00\x00"]


# -- the viewer's RFB messages (view-only, idle timeout) ---------------------------------------------

def _viewer_input_target(data: bytes) -> None:
    if not data:
        return
    split = data[0] % 8
    sizes, stream = data[1:1 + split], data[1 + split:]
    for view_only in (False, True):
        whole = rfbinput.ViewerStream(view_only=view_only, max_cut_text=4096).receive(stream)
        chunked_parser = rfbinput.ViewerStream(view_only=view_only, max_cut_text=4096)
        chunked = [e for piece in _chunks(stream, sizes) for e in chunked_parser.receive(piece)]
        # A byte stream: how TCP cut it never changes the events.
        assert whole == chunked, (whole, chunked)
        fails = [i for i, e in enumerate(whole) if isinstance(e, rfbinput.Fail)]
        assert fails in ([], [len(whole) - 1]), whole  # a Fail is the last event, and the only one
        events = whole[:-1] if fails else whole
        # Every byte read is in exactly one event, in order, none invented.
        assert stream.startswith(b"".join(e.data for e in events))
        if not view_only:
            assert rfbinput.forwarded(whole) == b"".join(e.data for e in events)
        else:
            assert not any(e.forward and e.input for e in events)


def _viewer_input_seeds() -> list[bytes]:
    hello = b"RFB 003.008\n\x01\x01"
    return [b"\x00" + hello + struct.pack(">BxH3i", 2, 3, 7, 0, -316) + b"\x05\x81\x00\x01\x00\x02\x01"
            + struct.pack(">BBHI", 4, 1, 0, 0x61) + struct.pack(">B3xi", 6, -6) + b"\x10\x00\x00\x01xy",
            b"\x03\x01\x02\x03" + hello + struct.pack(">BBHII", 255, 0, 1, 0x61, 30) + struct.pack(">BxBB", 250, 1, 4)
            + struct.pack(">BxHHBx", 251, 800, 600, 1) + bytes(16) + struct.pack(">B3xIB", 248, 3, 2) + b"ab",
            b"\x00RFB 003.003\n\x01" + struct.pack(">BBHHHH", 150, 1, 0, 0, 64, 64) + struct.pack(">BBH", 253, 0x81, 2)
            + b"\x00\x01" + bytes(20)]


# -- the relay's cut-through WebSocket parser ---------------------------------------------------------

def _cut(stream: bytes, pieces, *, client: bool, reframe: bool):
    """Feed ``pieces`` of ``stream``: (bytes forwarded, data counted, the other commands)."""
    parser = cutthrough.CutThrough(client=client, reframe=reframe, max_message=64 * 1024,
                                   size=8192, start_size=1024)
    out, counted, others = bytearray(), 0, []
    for piece in pieces:
        for command in parser.receive(piece):
            if isinstance(command, cutthrough.Forward):
                for part in command.parts:
                    out += part
                counted += command.payload
            else:
                others.append(command)
    return bytes(out), counted, others


def _payload_of(stream: bytes) -> bytes:
    """The payload of re-framed output, read strictly (unmasked; BINARY then CONTINUATIONs)."""
    out, pos, open_message = bytearray(), 0, False
    while pos < len(stream):
        header = wsframe.parse_header(stream, pos)
        assert header is not None and header.mask is None and not header.rsv, stream[pos:pos + 14]
        assert header.opcode == (wsframe.Opcode.CONTINUATION if open_message else wsframe.Opcode.BINARY)
        start = pos + header.header_length
        pos = start + header.length
        assert pos <= len(stream)
        out += stream[start:pos]
        open_message = not header.fin
    return bytes(out)


def _cutthrough_target(data: bytes) -> None:
    if not data:
        return
    client, split = bool(data[0] & 0x80), data[0] % 8
    sizes, stream = data[1:1 + split], data[1 + split:]
    whole = _cut(stream, [stream], client=client, reframe=False)
    chunked = _cut(stream, list(_chunks(stream, sizes)), client=client, reframe=False)
    # However TCP cut the stream, the same bytes go on and the same frames are answered.
    assert whole == chunked, (whole, chunked)
    assert whole[1] == len(whole[0])
    framed, counted, others = _cut(stream, list(_chunks(stream, sizes)), client=client, reframe=True)
    assert _payload_of(framed) == whole[0] and counted == whole[1] and others == whole[2]


def _cutthrough_seeds() -> list[bytes]:
    key = b"\x01\x02\x03\x04"
    masked = lambda op, body: wsframe.encode_header(op, True, len(body), key) + wsframe.xor_mask(body, key)  # noqa: E731
    return [b"\x03\x01\x02\x03" + masked(2, b"hello") + masked(9, b"ping") + masked(8, b"\x03\xe8"),
            b"\x00" + wsframe.encode_header(2, False, 3, key) + b"abc" + masked(0, b"defg"),
            b"\x80" + wsframe.encode_header(2, True, 300) + bytes(300),
            b"\x02\x05\x09" + masked(2, bytes(70000))]


# -- the node bus (JSON messages between gateway nodes over Redis pub/sub) ---------------------------

def _nodebus_target(data: bytes) -> None:
    try:
        command = nodebus.decode(data)
    except nodebus.NodeBusError:
        return
    assert nodebus.decode(nodebus.encode(command)) == command


def _nodebus_seeds() -> list[bytes]:
    return [b'{"cmd":"end","session":"s1","reason":"bye"}', b'{"cmd":"revoke","machine_id":3}',
            b'{"cmd":"end_user","user_id":2,"reason":"x"}', b'{"cmd":"open","machine_id":1,"session":"s","token":"t"}',
            b'{"cmd":"vnc_retry","machine_id":9}', b'{"cmd":"stream_failed","machine_id":1,"session":"s"}',
            b'{"cmd":"open_files","machine_id":1,"transfer":"t","token":"k","op":"list"}']


# -- file transfer: the names a browser sends, and the file stream's messages -------------------------

def _file_name_target(data: bytes) -> None:
    name = data.decode("utf-8", "surrogateescape")  # lone surrogates too: a browser can send them
    try:
        safe = filenames.safe_name(name)
    except filenames.UnsafeName:
        return
    # What comes out is one plain, short component that no OS reads as anything but a file here.
    assert safe and "/" not in safe and "\\" not in safe and safe not in (".", ".."), repr(safe)
    assert len(safe.encode("utf-8")) <= filenames.MAX_NAME_BYTES, repr(safe)
    assert not any(ord(ch) < 32 or ch in '<>:"|?*' for ch in safe), repr(safe)
    assert safe == safe.rstrip(". "), repr(safe)
    assert safe.split(".", 1)[0].rstrip(" ").upper() not in filenames.DEVICE_NAMES, repr(safe)
    assert filenames.safe_name(safe) == safe  # a safe name stays as it is


def _file_name_seeds() -> list[bytes]:
    return [b"report.pdf", b"../../etc/passwd", b"C:\\Windows\\win.ini", b"nul.txt", b"COM1", b"a\x00b",
            "\u202egnp.exe".encode(), b"x" * 300 + b".txt", b"..", b"C:evil"]


def _file_stream_target(data: bytes) -> None:
    try:
        event = filestream.decode(data)
    except filestream.FileStreamError:
        return
    assert filestream.decode(filestream.encode(event)) == event


def _file_stream_seeds() -> list[bytes]:
    return [b"Dabc", b"E", b'J{"type":"header","name":"a.txt","size":3}', b'J{"type":"saved","name":"a","size":0}',
            b'J{"type":"failed","code":"too_large","message":"no"}',
            b'J{"type":"listing","folders":["Downloads"],"files":[{"folder":0,"name":"a","size":1,"mtime":1.5}]}']


TARGETS = {
    "control_from_agent": (_control_target("AGENT_TO_GATEWAY"), _control_seeds),
    "control_from_gateway": (_control_target("GATEWAY_TO_AGENT"), _control_seeds),
    "control_stream_attach": (_control_target("STREAM_ATTACH"), _control_seeds),
    "control_structured": (_control_structured, lambda: [bytes(range(64)), b"\x01" * 64]),
    "rfb_client_handshake": (_rfb_target(_client), _client_seeds),
    "rfb_viewer_handshake": (_rfb_target(_viewer), _viewer_seeds),
    "cutthrough": (_cutthrough_target, _cutthrough_seeds),
    "rfb_viewer_input": (_viewer_input_target, _viewer_input_seeds),
    "nodebus": (_nodebus_target, _nodebus_seeds),
    "file_name": (_file_name_target, _file_name_seeds),
    "file_stream": (_file_stream_target, _file_stream_seeds),
    "api_json": (web_targets.api_json_target, web_targets.api_json_seeds),
    "csv_import": (web_targets.csv_import_target, web_targets.csv_import_seeds),
}
