"""Tests for agents.protocol.rfb: scripted RFB handshakes, no sockets."""

import dataclasses
import struct
import warnings

import pytest
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.hazmat.primitives.ciphers import Cipher, modes
import hypothesis
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.protocol.rfb import (
    DEFAULT_MAX_NAME,
    DEFAULT_MAX_REASON,
    AuthenticationFailed,
    ClientHandshake,
    HandshakeComplete,
    HandshakeError,
    ProtocolViolation,
    ServerHandshake,
    ServerInit,
    ServerRefused,
    UnsupportedSecurity,
    UnsupportedVersion,
    ViewerReady,
    ViewerRefused,
    vnc_auth_response,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

PIXEL_FORMAT = bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])
SERVER_INIT = ServerInit.create(1920, 1080, PIXEL_FORMAT, "office-pc:0 (Zoë)")
CHALLENGE = bytes.fromhex("9f1c44e1d0a2b7c35e6f0718293a4b5c")
PASSWORD = "s3cret-longer-than-8"
CLIENT_INIT = b"\x01"
V33, V37, V38 = (3, 3), (3, 7), (3, 8)
NONE, VNCAUTH = 1, 2


def u32(n):
    return struct.pack(">I", n)


def line(version):
    return b"RFB %03d.%03d\n" % version


def reason(text):
    return u32(len(text)) + text


def reference_response(password: bytes, challenge: bytes) -> bytes:
    """VncAuth response via OpenSSL: DES-ECB under the bit-reversed key."""
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password[:8].ljust(8, b"\0"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


RESPONSE = reference_response(PASSWORD.encode(), CHALLENGE)


def client_script(version, security, server_init=SERVER_INIT):
    """[(server bytes, exact reply from us)] for a successful client handshake."""
    steps = [(line(version), line(version))]
    vnc = security == VNCAUTH
    if version == V33:
        steps.append((u32(security), b"" if vnc else CLIENT_INIT))
    else:
        offered = b"\x02\x12\x02" if vnc else b"\x02\x12\x01"  # [TLS, VncAuth] / [TLS, None]
        choice = bytes([security])
        steps.append((offered, choice + CLIENT_INIT if version == V37 and not vnc else choice))
    if vnc:
        steps.append((CHALLENGE, RESPONSE))
    if vnc or version == V38:
        steps.append((u32(0), CLIENT_INIT))
    steps.append((server_init.raw, b""))
    return steps


def viewer_script(version):
    """[(viewer bytes, exact reply from us)] after our "RFB 003.008\\n"."""
    if version == V33:
        return [(line(V33), u32(1)), (b"\x01", SERVER_INIT.raw)]
    return [
        (line(version), b"\x01\x01"),
        (b"\x01", u32(0) if version == V38 else b""),
        (b"\x01", SERVER_INIT.raw),
    ]


def feed(handshake, data, *, bytewise):
    """Feed ``data`` in one chunk or byte by byte; return (events, bytes sent)."""
    events, sent = [], b""
    for chunk in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
        events += handshake.receive_data(chunk)
        sent += handshake.data_to_send()
    return events, sent


def run_script(handshake, steps, *, bytewise):
    """Feed a script; check each reply comes exactly when its step is complete."""
    events = []
    for incoming, reply in steps:
        if bytewise:
            for b in incoming[:-1]:
                assert handshake.receive_data(bytes([b])) == []
                assert handshake.data_to_send() == b""
            incoming = incoming[-1:]
        assert not handshake.done
        events = handshake.receive_data(incoming)
        assert handshake.data_to_send() == reply
    assert handshake.done
    return events


# --- VncAuth ----------------------------------------------------------------


@pytest.mark.parametrize(
    "password, key_bytes",
    [
        ("s3cret-longer-than-8", b"s3cret-l"),  # truncated to 8
        ("pw", b"pw\0\0\0\0\0\0"),  # NUL-padded
        (b"\xff\x00abc", b"\xff\x00abc\0\0\0"),  # bytes taken verbatim
        ("Zoë", "Zoë".encode()),  # str is UTF-8
    ],
)
def test_vnc_auth_response(password, key_bytes):
    assert vnc_auth_response(password, CHALLENGE) == reference_response(key_bytes, CHALLENGE)


def test_vnc_auth_response_known_value():
    # DES key is "password" with each byte bit-reversed: 0e86ceceeef64e26.
    expected = bytes.fromhex("b866924125c8eebb9debc1db61c538e2")
    assert reference_response(b"password", bytes(range(16))) == expected
    assert vnc_auth_response("password", bytes(range(16))) == expected


def test_vnc_auth_response_needs_16_bytes():
    with pytest.raises(ValueError):
        vnc_auth_response("pw", bytes(8))


# --- ClientHandshake: success ----------------------------------------------


@pytest.mark.parametrize("bytewise", [False, True], ids=["chunk", "bytewise"])
@pytest.mark.parametrize("security", [NONE, VNCAUTH], ids=["None", "VncAuth"])
@pytest.mark.parametrize("version", [V33, V37, V38], ids=["3.3", "3.7", "3.8"])
def test_client_handshake(version, security, bytewise):
    client = ClientHandshake(PASSWORD)
    assert client.data_to_send() == b""
    if bytewise:
        events = run_script(client, client_script(version, security), bytewise=True)
    else:
        server = b"".join(s for s, _ in client_script(version, security))
        events, sent = feed(client, server, bytewise=False)
        assert sent == b"".join(r for _, r in client_script(version, security))
    assert events == [HandshakeComplete(SERVER_INIT, version, security, b"")]
    assert events[0].server_init.name == "office-pc:0 (Zoë)"
    assert (events[0].server_init.width, events[0].server_init.height) == (1920, 1080)


@pytest.mark.parametrize("version", [V33, V37, V38], ids=["3.3", "3.7", "3.8"])
def test_client_keeps_leftover_after_server_init(version):
    leftover = b"\x02\x00\x00\x00" + b"x" * 100  # e.g. a Bell and more
    client = ClientHandshake(PASSWORD)
    steps = client_script(version, VNCAUTH)
    *head, (last, _) = steps
    feed(client, b"".join(s for s, _ in head), bytewise=True)
    events = client.receive_data(last[:-1])
    assert events == []
    (event,) = client.receive_data(last[-1:] + leftover)
    assert event.leftover == leftover
    assert event.server_init.raw == SERVER_INIT.raw


def test_client_init_not_shared():
    client = ClientHandshake(None, shared=False)
    _, sent = feed(client, b"".join(s for s, _ in client_script(V38, NONE)), bytewise=False)
    assert sent == line(V38) + b"\x01" + b"\x00"


def test_client_without_password_takes_none_over_vncauth():
    client = ClientHandshake(None)
    (event,) = client.receive_data(line(V37) + b"\x03\x02\x10\x01" + SERVER_INIT.raw)
    assert event.security == NONE
    assert client.data_to_send() == line(V37) + b"\x01" + CLIENT_INIT


def test_client_with_password_takes_the_stronger_vncauth_over_none():
    client = ClientHandshake(PASSWORD)
    assert client.receive_data(line(V38) + b"\x02\x01\x02" + CHALLENGE) == []
    assert client.data_to_send() == line(V38) + b"\x02" + RESPONSE


@pytest.mark.parametrize(
    "greeting, reply",
    [
        (b"RFB 003.003\n", b"RFB 003.003\n"),
        (b"RFB 003.005\n", b"RFB 003.003\n"),
        (b"RFB 003.006\n", b"RFB 003.003\n"),  # UltraVNC
        (b"RFB 003.007\n", b"RFB 003.007\n"),
        (b"RFB 003.008\n", b"RFB 003.008\n"),
        (b"RFB 003.889\n", b"RFB 003.008\n"),  # Apple
        (b"RFB 004.001\n", b"RFB 003.008\n"),  # RealVNC
        (b"RFB 005.000\n", b"RFB 003.008\n"),
    ],
)
def test_client_version_negotiation(greeting, reply):
    client = ClientHandshake(PASSWORD)
    assert client.receive_data(greeting) == []
    assert client.data_to_send() == reply


@pytest.mark.parametrize(
    "name_bytes, name",
    [(b"", ""), ("Zoë's Mac".encode(), "Zoë's Mac"), (b"caf\xe9", "café"), (b"\xff\xfe", "ÿþ")],
)
def test_client_decodes_desktop_name(name_bytes, name):
    raw = struct.pack(">HH16sI", 800, 600, PIXEL_FORMAT, len(name_bytes)) + name_bytes
    client = ClientHandshake(None)
    (event,) = client.receive_data(line(V38) + b"\x01\x01" + u32(0) + raw)
    assert event.server_init.name == name
    assert event.server_init.raw == raw


def test_client_name_is_not_counted_against_max_bytes():
    big = ServerInit.create(1, 1, PIXEL_FORMAT, "n" * DEFAULT_MAX_NAME)
    server = b"".join(s for s, _ in client_script(V38, NONE, big))
    (event,) = ClientHandshake(None, max_bytes=64).receive_data(server)
    assert event.server_init == big


# --- ClientHandshake: failures ----------------------------------------------

REJECTED = "VNC server rejected the password"
NOT_RFB = "did not send an RFB ProtocolVersion"
AUTH_OK_UNTIL_RESULT = {
    V33: line(V33) + u32(2) + CHALLENGE,
    V37: line(V37) + b"\x01\x02" + CHALLENGE,
    V38: line(V38) + b"\x01\x02" + CHALLENGE,
}


@pytest.mark.parametrize(
    "server, error, message",
    [
        (AUTH_OK_UNTIL_RESULT[V38] + u32(1) + reason(b"Authentication failure"),
         AuthenticationFailed, "VNC server rejected the password: Authentication failure"),
        (AUTH_OK_UNTIL_RESULT[V37] + u32(1), AuthenticationFailed, REJECTED),
        (AUTH_OK_UNTIL_RESULT[V33] + u32(1), AuthenticationFailed, REJECTED),
        (AUTH_OK_UNTIL_RESULT[V33] + u32(2), ServerRefused, "too many authentication failures"),
        (line(V38) + b"\x01\x01" + u32(1) + reason(b"Access denied"),
         AuthenticationFailed, "VNC server refused access: Access denied"),
        (line(V38) + b"\x00" + reason(b"Too many security failures"),
         ServerRefused, "VNC server refused the connection: Too many security failures"),
        (line(V37) + b"\x00" + reason(b"No more connections"),
         ServerRefused, "VNC server refused the connection: No more connections"),
        (line(V33) + u32(0) + reason(b"Too many security failures"),
         ServerRefused, "VNC server refused the connection: Too many security failures"),
        (line(V38) + b"\x04\x12\x1e\x71\xc8", UnsupportedSecurity,
         "The VNC server offers only TLS, Apple ARD, MSLogon II and 200 (Apple ARD needs a user name): "
         "set vnc_username"),
        (line(V38) + b"\x03\x05\x06\x14", UnsupportedSecurity,
         "The VNC server offers only RA2, RA2ne and SASL, which the agent does not speak"),
        (line((5, 0)) + b"\x02\x05\x06", UnsupportedSecurity,
         'RealVNC Server offers only its own encryption (RA2 and RA2ne), which the agent cannot speak: in '
         'RealVNC Server\'s Options → Security, set Encryption to "Prefer off" and Authentication to '
         '"VNC password"'),
        (line(V33) + u32(16), UnsupportedSecurity, "The VNC server offers only Tight"),
        (b"RFB 002.000\n", UnsupportedVersion, "RFB 2.0"),
        (b"RFB 003.002\n", UnsupportedVersion, "RFB 3.2"),
        (b"HTTP/1.1 400 Bad Request\r\n", ProtocolViolation, NOT_RFB),
        (b"SSH-2.0-OpenSSH_9.6\r\n", ProtocolViolation, NOT_RFB),
        (b"RFB 003.008\r\n", ProtocolViolation, "malformed ProtocolVersion"),
        (b"RFB 03.0008\n", ProtocolViolation, "malformed ProtocolVersion"),
        (b"RFB +03.008\n", ProtocolViolation, "malformed ProtocolVersion"),
        (b"RFB 003,008\n", ProtocolViolation, "malformed ProtocolVersion"),
        (line(V38) + b"\x01\x01" + u32(0) + SERVER_INIT.raw[:20] + u32(DEFAULT_MAX_NAME + 1),
         ProtocolViolation, f"desktop name of {DEFAULT_MAX_NAME + 1} bytes"),
        (line(V38) + b"\x00" + u32(DEFAULT_MAX_REASON + 1), ProtocolViolation, "reason string of"),
        (line(V38) + b"\x01\x01" + u32(1) + u32(2**32 - 1), ProtocolViolation, "reason string"),
    ],
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["chunk", "bytewise"])
def test_client_failures(server, error, message, bytewise):
    client = ClientHandshake(PASSWORD)
    with pytest.raises(error) as info:
        feed(client, server, bytewise=bytewise)
    assert message in str(info.value)
    with pytest.raises(ProtocolViolation, match="after the handshake ended"):
        client.receive_data(b"x")


@pytest.mark.parametrize("password", [None, ""])
@pytest.mark.parametrize("version", [V33, V37, V38])
def test_client_vncauth_without_password(version, password):
    client = ClientHandshake(password)
    offer = u32(2) if version == V33 else b"\x01\x02"
    with pytest.raises(UnsupportedSecurity, match="offers only VncAuth: put its password in vnc_password_file") \
            as info:
        client.receive_data(line(version) + offer)
    assert info.value.lacking == {VNCAUTH: "password"}
    assert client.data_to_send() == line(version)  # no security choice sent


def test_client_total_input_is_bounded():
    client = ClientHandshake(PASSWORD, max_bytes=20)
    client.receive_data(line(V38))
    # count 9: 12 + 1 + 9 = 22 > 20, refused before the list arrives
    with pytest.raises(ProtocolViolation, match="handshake larger than 20 bytes"):
        client.receive_data(b"\x09")


def test_client_reason_counts_against_max_bytes():
    client = ClientHandshake(PASSWORD, max_bytes=100)
    with pytest.raises(ProtocolViolation, match="handshake larger than 100 bytes"):
        client.receive_data(line(V38) + b"\x00" + u32(200))


def test_client_data_after_done():
    client = ClientHandshake(PASSWORD)
    client.receive_data(b"".join(s for s, _ in client_script(V38, VNCAUTH)))
    assert client.done
    with pytest.raises(ProtocolViolation, match="relay the bytes instead"):
        client.receive_data(b"\x00")


@pytest.mark.parametrize("received", [b"", b"RFB 003.", line(V38) + b"\x01"])
def test_client_peer_closed(received):
    client = ClientHandshake(PASSWORD)
    if received:
        client.receive_data(received)
    with pytest.raises(ProtocolViolation, match="VNC server closed the connection"):
        client.receive_data(b"")


def test_max_bytes_must_fit_a_version():
    with pytest.raises(ValueError):
        ClientHandshake(None, max_bytes=11)
    with pytest.raises(ValueError):
        ServerHandshake(SERVER_INIT, max_bytes=11)


# --- ServerHandshake --------------------------------------------------------


@pytest.mark.parametrize("bytewise", [False, True], ids=["chunk", "bytewise"])
@pytest.mark.parametrize("version", [V33, V37, V38], ids=["3.3", "3.7", "3.8"])
def test_server_handshake(version, bytewise):
    server = ServerHandshake(SERVER_INIT)
    server.initiate()
    assert server.data_to_send() == b"RFB 003.008\n"
    events = run_script(server, viewer_script(version), bytewise=bytewise)
    assert events == [ViewerReady(True, b"")]


@pytest.mark.parametrize(
    "viewer_version, as_version",
    [
        (b"RFB 003.889\n", V38),
        (b"RFB 003.009\n", V38),
        (b"RFB 003.005\n", V33),
        (b"RFB 003.006\n", V33),
    ],
)
def test_server_accepts_version_variants(viewer_version, as_version):
    server = ServerHandshake(SERVER_INIT)
    server.initiate()
    server.data_to_send()
    ((_, reply), *_) = viewer_script(as_version)
    server.receive_data(viewer_version)
    assert server.data_to_send() == reply


@pytest.mark.parametrize("version", [V33, V37, V38])
def test_server_leftover_after_client_init(version):
    leftover = b"\x02\x00\x00\x02" + b"\x00\x00\x00\x07" + b"\xff\xff\xff\x21"  # SetEncodings
    viewer = b"".join(v for v, _ in viewer_script(version))
    server = ServerHandshake(SERVER_INIT)
    server.initiate()
    (event,) = server.receive_data(viewer[:-1] + b"\x00" + leftover)
    assert event == ViewerReady(False, leftover)
    assert server.data_to_send().endswith(SERVER_INIT.raw)


@pytest.mark.parametrize(
    "viewer, message",
    [
        (b"GET / HTTP/1.1\r\n", "viewer did not send an RFB ProtocolVersion"),
        (b"RFB 003.00x\n", "malformed ProtocolVersion"),
        (b"RFB 004.000\n", "viewer answered RFB 4.0"),
        (b"RFB 003.002\n", "viewer answered RFB 3.2"),
        (line(V38) + b"\x02", "viewer chose security type 2 (VncAuth)"),
        (line(V37) + b"\x00", "viewer chose security type 0 (Invalid)"),
        (line(V38) + b"\x10", "viewer chose security type 16 (Tight)"),
    ],
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["chunk", "bytewise"])
def test_server_failures(viewer, message, bytewise):
    server = ServerHandshake(SERVER_INIT)
    server.initiate()
    with pytest.raises(ProtocolViolation) as info:
        feed(server, viewer, bytewise=bytewise)
    assert message in str(info.value)
    with pytest.raises(ProtocolViolation):
        server.receive_data(b"\x01")


def test_server_input_is_bounded():
    server = ServerHandshake(SERVER_INIT, max_bytes=12)
    server.initiate()
    with pytest.raises(ProtocolViolation, match="handshake larger than 12 bytes"):
        server.receive_data(line(V38))


def test_server_viewer_must_wait_for_initiate():
    server = ServerHandshake(SERVER_INIT)
    with pytest.raises(ProtocolViolation, match="before our ProtocolVersion"):
        server.receive_data(line(V38))


def test_server_viewer_closed():
    server = ServerHandshake(SERVER_INIT)
    server.initiate()
    server.receive_data(line(V38))
    with pytest.raises(ProtocolViolation, match="viewer closed the connection"):
        server.receive_data(b"")


def test_server_takes_at_most_one_mode():
    with pytest.raises(ValueError):
        ServerHandshake(SERVER_INIT, failure="x")


FAILURE = "Cannot reach the VNC server on the office PC: connection refused — café"


@pytest.mark.parametrize(
    "version, refusal",
    [(V33, u32(0)), (V37, b"\x00"), (V38, b"\x00"), ((3, 889), b"\x00")],
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["chunk", "bytewise"])
def test_server_failure_mode(version, refusal, bytewise):
    server = ServerHandshake(failure=FAILURE)
    server.initiate()
    assert server.data_to_send() == b"RFB 003.008\n"
    viewer = line(version)
    if bytewise:
        for b in viewer[:-1]:
            assert server.receive_data(bytes([b])) == []
            assert server.data_to_send() == b""
        viewer = viewer[-1:]
    events = server.receive_data(viewer + b"\x01")  # what follows is ignored
    sent = server.data_to_send()
    assert events == [ViewerRefused(FAILURE)]
    assert server.done
    encoded = FAILURE.encode()
    assert sent == refusal + u32(len(encoded)) + encoded


# --- Properties ---------------------------------------------------------------

SCRIPTS = [(v, s) for v in (V33, V37, V38) for s in (NONE, VNCAUTH)]
VALID_SERVER = [b"".join(s for s, _ in client_script(v, s)) for v, s in SCRIPTS]
BAD_SERVER = [
    AUTH_OK_UNTIL_RESULT[V38] + u32(1) + reason(b"Authentication failure"),
    AUTH_OK_UNTIL_RESULT[V33] + u32(1),
    line(V38) + b"\x00" + reason(b"Too many security failures"),
    line(V33) + u32(0) + reason(b"Too many security failures"),
    line(V38) + b"\x02\x12\x14",
]
FAILURES = st.sampled_from([None, "no server"])
VIEWER = [b"".join(v for v, _ in viewer_script(v)) for v in (V33, V37, V38)]


def mutate(data, edits, cut, tail):
    buf = bytearray(data)
    for position, value in edits:
        buf[position % len(buf)] = value
    if cut is not None:
        del buf[cut % (len(buf) + 1) :]
    return bytes(buf) + tail


def inputs(valid):
    """Junk, valid prefixes followed by junk, and corrupted valid transcripts."""
    return st.one_of(
        st.binary(max_size=120),
        st.builds(
            lambda version, tail: line(version) + tail,
            st.sampled_from([V33, V37, V38, (3, 889)]),
            st.binary(max_size=120),
        ),
        st.builds(
            mutate,
            st.sampled_from(valid),
            st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=3),
            st.none() | st.integers(0, 300),
            st.binary(max_size=40),
        ),
    )


def chunked(data, draw):
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=8))))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def outcome(handshake, chunks):
    """Feed chunks like a relay would: stop at the end or the first error."""
    sent, result, forwarded = b"", None, b""
    try:
        for chunk in chunks:
            if handshake.done:
                forwarded += chunk
                continue
            events = handshake.receive_data(chunk)
            sent += handshake.data_to_send()
            if events:
                (result,) = events
    except HandshakeError as exc:
        return ("error", type(exc), str(exc), sent + handshake.data_to_send())
    if result is not None and hasattr(result, "leftover"):
        return ("done", dataclasses.replace(result, leftover=result.leftover + forwarded), sent)
    return ("done" if handshake.done else "waiting", result, sent)


def feed_arbitrary(handshake, chunks, limit):
    """Feed chunks; only HandshakeError may escape, and input stays under ``limit``.

    ``limit`` maps the final event (None while waiting) to the most input the
    handshake may have consumed. Returns a label for hypothesis statistics.
    """
    fed = 0
    try:
        for chunk in chunks:
            events = handshake.receive_data(chunk)
            fed += len(chunk)
            handshake.data_to_send()
            if handshake.done:
                (final,) = events
                assert fed - len(getattr(final, "leftover", b"")) <= limit(final)
                return type(final).__name__
            assert events == []
            assert fed <= limit(None)
        with pytest.raises(ProtocolViolation, match="closed the connection"):
            handshake.receive_data(b"")
        return "waiting"
    except HandshakeError as exc:
        return type(exc).__name__


@settings(max_examples=250, deadline=None)
@given(data=st.data(), max_bytes=st.integers(12, 120), max_name=st.integers(0, 40))
def test_client_arbitrary_input(data, max_bytes, max_name):
    password = data.draw(st.sampled_from([None, PASSWORD]))
    client = ClientHandshake(password, max_bytes=max_bytes, max_name=max_name, max_reason=30)

    def limit(final):
        # The desktop name is bounded by max_name, not counted in max_bytes.
        if final is None:
            return max_bytes + max_name
        assert isinstance(final, HandshakeComplete)
        name_length = len(final.server_init.raw) - 24
        assert name_length <= max_name
        return max_bytes + name_length

    chunks = chunked(data.draw(inputs(VALID_SERVER + BAD_SERVER)), data.draw)
    hypothesis.event(feed_arbitrary(client, chunks, limit))


@settings(max_examples=250, deadline=None)
@given(data=st.data(), max_bytes=st.integers(12, 40), failure=FAILURES)
def test_server_arbitrary_input(data, max_bytes, failure):
    server_init = None if failure else SERVER_INIT
    server = ServerHandshake(server_init, failure=failure, max_bytes=max_bytes)
    server.initiate()

    def limit(final):
        assert final is None or isinstance(final, ViewerRefused if failure else ViewerReady)
        return max_bytes if not isinstance(final, ViewerRefused) else float("inf")

    chunks = chunked(data.draw(inputs(VIEWER)), data.draw)
    hypothesis.event(feed_arbitrary(server, chunks, limit))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), leftover=st.binary(max_size=20))
def test_client_chunking_does_not_matter(data, leftover):
    transcript = data.draw(st.sampled_from(VALID_SERVER + BAD_SERVER)) + leftover
    whole = outcome(ClientHandshake(PASSWORD), [transcript])
    assert outcome(ClientHandshake(PASSWORD), chunked(transcript, data.draw)) == whole
    assert whole[0] in ("done", "error")


@settings(max_examples=150, deadline=None)
@given(data=st.data(), leftover=st.binary(max_size=20), failure=FAILURES)
def test_server_chunking_does_not_matter(data, leftover, failure):
    transcript = data.draw(st.sampled_from(VIEWER)) + leftover

    def run(chunks):
        server = ServerHandshake(None if failure else SERVER_INIT, failure=failure)
        server.initiate()
        return outcome(server, chunks)

    whole = run([transcript])
    assert run(chunked(transcript, data.draw)) == whole
    assert whole[0] == "done"
