"""The agent's VNC logins as transcripts: the test plays the server, written from rfbproto.

No sockets: ``Wire`` connects a ``ClientHandshake`` to the server side the test plays,
with TLS in memory on both ends (``ssl.MemoryBIO``) for VeNCrypt. The server's crypto
is computed here independently (``cryptography`` for AES and DES), with fixed keys where
the agent lets us fix them, plus property tests over random credentials and chunking.
Real servers: test_vnc_logins.py.
"""

from __future__ import annotations

import hashlib
import ssl
import struct
import warnings

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.utils import CryptographyDeprecationWarning
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.protocol import dhauth
from agents.protocol import security as sec
from agents.protocol.rfb import (Authenticated, AuthenticationFailed, CertificateRejected, ClientHandshake,
                                 Credentials, HandshakeComplete, ProtocolViolation, ServerInit, ServerRefused,
                                 UnsupportedSecurity, vnc_auth_response)
from agents.protocol.tls import Trust

with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

V38 = b"RFB 003.008\n"
V37 = b"RFB 003.007\n"
PIXEL_FORMAT = bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])
SERVER_INIT = ServerInit.create(640, 480, PIXEL_FORMAT, "mac-mini")
CHALLENGE = bytes(range(16))
PASSWORD = "s3cret!"
OK = struct.pack(">I", 0)

# RFC 2409 §6.2 (Oakley group 2): a 1024-bit prime with generator 2, the size macOS sends.
OAKLEY2 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF", 16)
P64 = 2**64 - 59  # the largest 64-bit prime


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def cap(code: int, vendor: bytes, signature: bytes) -> bytes:
    return struct.pack(">i", code) + vendor + signature


class Wire:
    """A ClientHandshake and the server the test plays, joined in memory."""

    def __init__(self, client: ClientHandshake, chunk=None):
        self.client = client
        self.chunk = chunk  # chunk(data) -> pieces, to feed the client in odd sizes
        self.events: list = []
        self.pending = bytearray()  # plaintext from the client not yet read by the server
        self.tls = None  # the server's SSLObject once TLS is on
        self._in = self._out = None

    def send(self, data: bytes) -> None:
        """Server → client (encrypted once TLS is on)."""
        if self.tls is not None:
            self.tls.write(data)
            data = self._out.read()
        for piece in (self.chunk(data) if self.chunk else [data]):
            self.events += self.client.receive_data(piece)
            self._collect()

    def _collect(self) -> None:
        out = self.client.data_to_send()
        if self.tls is None:
            self.pending += out
            return
        if out:
            self._in.write(out)
        while True:
            try:
                data = self.tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLError):
                break
            if not data:
                break
            self.pending += data

    def recv(self, n: int) -> bytes:
        """Exactly ``n`` bytes the client sent (plaintext), and nothing more waiting."""
        self._collect()
        assert len(self.pending) >= n, f"client sent {bytes(self.pending)!r}, the server wants {n} bytes"
        out = bytes(self.pending[:n])
        del self.pending[:n]
        return out

    def done_reading(self) -> None:
        self._collect()
        assert not self.pending, f"client sent more than the server expected: {bytes(self.pending)!r}"

    def start_tls(self, context: ssl.SSLContext) -> None:
        """Server side of the TLS handshake the client starts after the subtype ack."""
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._in, self._out, server_side=True)
        hello = bytes(self.pending)
        self.pending.clear()
        self._in.write(hello)
        for _ in range(20):
            try:
                self.tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            data = self._out.read()
            if data:
                for piece in (self.chunk(data) if self.chunk else [data]):
                    self.events += self.client.receive_data(piece)
                out = self.client.data_to_send()
                if out:
                    self._in.write(out)
            if done and not data:
                return
        raise AssertionError("TLS handshake did not finish")

    @property
    def complete(self) -> HandshakeComplete:
        (event,) = [e for e in self.events if isinstance(e, HandshakeComplete)]
        return event


def anon_server() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("aNULL:@SECLEVEL=0")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def cert_server(tls_files) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files.cert, tls_files.key)
    return ctx


def finish(wire: Wire, extra: bytes = b"") -> HandshakeComplete:
    assert wire.recv(1) == b"\x01"  # ClientInit, shared
    wire.send(SERVER_INIT.raw + extra)
    wire.done_reading()
    return wire.complete


# --------------------------------------------------------------------------- VeNCrypt


def vencrypt_until_subtype(wire: Wire, subtypes, expected: int) -> None:
    wire.send(V38 + b"\x01\x13")
    assert wire.recv(12) == V38 and wire.recv(1) == b"\x13"
    wire.send(b"\x00\x02")
    assert wire.recv(2) == b"\x00\x02"
    wire.send(b"\x00" + bytes([len(subtypes)]) + b"".join(u32(s) for s in subtypes))
    assert wire.recv(4) == u32(expected)


def test_vencrypt_tlsvnc_anonymous_tls_then_vncauth_inside():
    wire = Wire(ClientHandshake(PASSWORD))
    vencrypt_until_subtype(wire, [sec.TLS_NONE, sec.TLS_VNC, sec.X509_VNC], sec.TLS_VNC)  # no trust: no X509
    wire.send(b"\x01")  # subtype ack
    wire.start_tls(anon_server())
    assert wire.tls.cipher()[0].startswith(("AECDH", "ADH"))
    wire.send(CHALLENGE)
    assert wire.recv(16) == vnc_auth_response(PASSWORD, CHALLENGE)
    wire.send(OK)
    complete = finish(wire, b"after")
    assert complete.method == sec.TLS_VNC and complete.security == sec.VENCRYPT and complete.tls is not None
    assert complete.leftover == b"after" and complete.server_init == SERVER_INIT
    # the session goes on inside the same TLS connection, both ways
    complete.tls.write(b"\x03\x00" + bytes(8))
    wire._in.write(complete.tls.data_to_send())
    assert wire.tls.read(100) == b"\x03\x00" + bytes(8)
    wire.tls.write(b"framebuffer update")
    complete.tls.receive(wire._out.read())
    assert complete.tls.read() == b"framebuffer update"


def test_vencrypt_tlsnone_ends_with_a_security_result():
    wire = Wire(ClientHandshake(None))
    vencrypt_until_subtype(wire, [sec.TLS_VNC, sec.TLS_NONE], sec.TLS_NONE)  # no password: TLSNone
    wire.send(b"\x01")
    wire.start_tls(anon_server())
    wire.send(OK)
    assert finish(wire).method == sec.TLS_NONE


@pytest.mark.parametrize("trust_kind", ["ca", "pin"])
def test_vencrypt_x509vnc_verifies_the_certificate(tls_files, trust_kind):
    trust = Trust(ca_file=str(tls_files.ca)) if trust_kind == "ca" else Trust(pins=(tls_files.fingerprint,))
    wire = Wire(ClientHandshake(Credentials(password=PASSWORD, trust=trust), server_name="127.0.0.1"))
    vencrypt_until_subtype(wire, [sec.TLS_VNC, sec.X509_NONE, sec.X509_VNC], sec.X509_VNC)  # strongest
    wire.send(b"\x01")
    wire.start_tls(cert_server(tls_files))
    wire.send(CHALLENGE)
    assert wire.recv(16) == vnc_auth_response(PASSWORD, CHALLENGE)
    wire.send(OK)
    assert finish(wire).method == sec.X509_VNC


@pytest.mark.parametrize("trust, name, message", [
    (Trust(pins=("0" * 64,)), "127.0.0.1", "not the pinned one"),
    ("ca", "pc.example", "does not trust"),  # the certificate names localhost/127.0.0.1, not pc.example
    (Trust(ca_file=str(__file__)), "127.0.0.1", "cannot read vnc_ca_file"),  # not PEM: OpenSSL refuses it
])
def test_vencrypt_x509_refuses_an_untrusted_certificate(tls_files, trust, name, message):
    if trust == "ca":
        trust = Trust(ca_file=str(tls_files.ca))
    client = ClientHandshake(Credentials(password=PASSWORD, trust=trust), server_name=name)
    wire = Wire(client)
    vencrypt_until_subtype(wire, [sec.X509_VNC], sec.X509_VNC)
    with pytest.raises(CertificateRejected, match=message):
        wire.send(b"\x01")
        wire.start_tls(cert_server(tls_files))


def test_vencrypt_plain_and_tlsplain_send_user_and_password():
    creds = Credentials(password="pässword", username="zoë")
    wire = Wire(ClientHandshake(creds))
    vencrypt_until_subtype(wire, [sec.PLAIN, sec.TLS_PLAIN], sec.TLS_PLAIN)  # TLS beats plain text
    wire.send(b"\x01")
    wire.start_tls(anon_server())
    user, word = "zoë".encode(), "pässword".encode()
    assert wire.recv(8 + len(user) + len(word)) == struct.pack(">II", len(user), len(word)) + user + word
    with pytest.raises(AuthenticationFailed, match=r"rejected the user name or password \(VeNCrypt TLSPlain\): "
                                                   "Login failed"):
        wire.send(u32(1) + u32(12) + b"Login failed")
    assert client_failed(wire)


def client_failed(wire: Wire) -> bool:
    with pytest.raises(ProtocolViolation, match="after the handshake ended"):
        wire.client.receive_data(b"x")
    return True


def test_vencrypt_plain_without_tls():
    wire = Wire(ClientHandshake(Credentials(password="pw", username="u")))
    vencrypt_until_subtype(wire, [sec.PLAIN], sec.PLAIN)  # no ack, no TLS for Plain
    assert wire.recv(11) == struct.pack(">II", 1, 2) + b"upw"
    wire.send(OK)
    assert finish(wire).tls is None


def test_vencrypt_may_list_plain_security_types():
    wire = Wire(ClientHandshake(PASSWORD))
    vencrypt_until_subtype(wire, [sec.VNC_AUTH], sec.VNC_AUTH)  # VncAuth inside the VeNCrypt list
    wire.send(CHALLENGE)
    assert wire.recv(16) == vnc_auth_response(PASSWORD, CHALLENGE)
    wire.send(OK)
    assert finish(wire).method == sec.VNC_AUTH


def test_vencrypt_x509_only_without_trust_says_what_to_give():
    wire = Wire(ClientHandshake(PASSWORD))
    wire.send(V38 + b"\x01\x13")
    wire.recv(13)
    wire.send(b"\x00\x02")
    wire.recv(2)
    with pytest.raises(UnsupportedSecurity) as info:
        wire.send(b"\x00\x02" + u32(sec.X509_VNC) + u32(sec.X509_VNC))  # listed twice: named once
    assert str(info.value) == ("The VNC server offers only VeNCrypt X509Vnc: give the agent the server's "
                               "certificate (vnc_ca_file) or its SHA-256 fingerprint (vnc_pin_sha256)")
    assert info.value.lacking == {sec.X509_VNC: sec.LACKS_CERTIFICATE} and not info.value.fallback


def test_vencrypt_unusable_but_another_type_fits_asks_for_a_fallback():
    wire = Wire(ClientHandshake(PASSWORD))
    wire.send(V38 + b"\x02\x13\x02")
    assert wire.recv(13) == V38 + b"\x13"
    wire.send(b"\x00\x02")
    wire.recv(2)
    with pytest.raises(UnsupportedSecurity) as info:
        wire.send(b"\x00\x01" + u32(sec.X509_NONE))
    assert info.value.fallback
    # …and the second connection, told to skip VeNCrypt, takes VncAuth
    again = Wire(ClientHandshake(PASSWORD, skip=frozenset({sec.VENCRYPT})))
    again.send(V38 + b"\x02\x13\x02")
    assert again.recv(13) == V38 + b"\x02"


@pytest.mark.parametrize("reply, error, message", [
    (b"\x00\x01", UnsupportedSecurity, "VeNCrypt 0.1; the agent needs 0.2"),
])
def test_vencrypt_old_version(reply, error, message):
    wire = Wire(ClientHandshake(PASSWORD))
    wire.send(V38 + b"\x01\x13")
    wire.recv(13)
    with pytest.raises(error, match=message):
        wire.send(reply)


def test_vencrypt_refused_subtype():
    wire = Wire(ClientHandshake(PASSWORD))
    vencrypt_until_subtype(wire, [sec.TLS_VNC], sec.TLS_VNC)
    with pytest.raises(ServerRefused, match="refused VeNCrypt TLSVnc"):
        wire.send(b"\x00")


# --------------------------------------------------------------------------- Tight (16)

NOTUNNEL = cap(0, b"TGHT", b"NOTUNNEL")
NOAUTH = cap(1, b"STDV", b"NOAUTH__")
VNCAUTH = cap(2, b"STDV", b"VNCAUTH_")
ULOGIN = cap(129, b"TGHT", b"ULGNAUTH")
INTERACTION = struct.pack(">HHHH", 1, 1, 2, 0) + cap(150, b"TGHT", b"CUS_EOCU") + cap(150, b"TGHT", b"CUC_ENCU") \
    + cap(0, b"STDV", b"RAW_____") + cap(7, b"TGHT", b"TIGHT___")


def tight(password, version=V38, creds_allowed=frozenset({sec.TIGHT})):
    wire = Wire(ClientHandshake(Credentials(password=password, allowed=creds_allowed)))
    wire.send(version + b"\x02\x02\x10")
    assert wire.recv(12) == version and wire.recv(1) == b"\x10"
    return wire


@pytest.mark.parametrize("tunnels", [[], [NOTUNNEL], [cap(1, b"SICR", b"SCHANNEL"), NOTUNNEL]])
def test_tight_vncauth_and_the_extended_server_init_is_not_replayed(tunnels):
    wire = tight(PASSWORD)
    wire.send(u32(len(tunnels)) + b"".join(tunnels))
    if tunnels:
        assert wire.recv(4) == u32(0)  # NOTUNNEL
    wire.send(u32(3) + ULOGIN + NOAUTH + VNCAUTH)
    assert wire.recv(4) == u32(2)  # VncAuth, the stronger one we hold a password for
    wire.send(CHALLENGE)
    assert wire.recv(16) == vnc_auth_response(PASSWORD, CHALLENGE)
    wire.send(OK)
    complete = finish(wire, INTERACTION + b"\x00\x00\x00\x01")
    assert complete.server_init.raw == SERVER_INIT.raw  # the viewer chose None: plain ServerInit
    assert complete.leftover == b"\x00\x00\x00\x01"
    assert complete.security == sec.TIGHT and complete.method == sec.VNC_AUTH


@pytest.mark.parametrize("version, result", [(V38, True), (V37, False)])
def test_tight_without_authentication(version, result):
    """TightVNC sends SecurityResult after no authentication only on RFB 3.8 (its
    rfbClientAuthSucceeded), as for plain None."""
    wire = tight(None, version)
    wire.send(u32(0) + u32(1) + NOAUTH)
    assert wire.recv(4) == u32(1)
    if result:
        wire.send(OK)
    complete = finish(wire, INTERACTION)
    assert complete.method == sec.NONE


def test_tight_with_no_auth_types_goes_straight_to_none():
    wire = tight(PASSWORD)
    wire.send(u32(0) + u32(0))
    wire.send(OK)
    assert finish(wire, struct.pack(">HHHH", 0, 0, 0, 0)).method == sec.NONE


def test_tight_unknown_tunnels_and_auth():
    wire = tight(PASSWORD)
    with pytest.raises(UnsupportedSecurity, match="only Tight tunnels the agent does not support"):
        wire.send(u32(1) + cap(1, b"SICR", b"SCHANNEL"))
    wire = tight(PASSWORD)
    with pytest.raises(UnsupportedSecurity, match="Tight security with only TGHTULGNAUTH"):
        wire.send(u32(0) + u32(1) + ULOGIN)
    wire = tight(None)
    with pytest.raises(UnsupportedSecurity, match="offers only VncAuth: put its password"):
        wire.send(u32(0) + u32(1) + VNCAUTH)


def test_tight_too_many_tries():
    wire = tight(PASSWORD)
    wire.send(u32(0) + u32(1) + VNCAUTH)
    wire.recv(4)
    wire.send(CHALLENGE)
    wire.recv(16)
    with pytest.raises(ServerRefused, match="too many authentication failures"):
        wire.send(u32(2) + u32(0))


def test_tight_capability_counts_are_bounded():
    wire = tight(PASSWORD)
    with pytest.raises(ProtocolViolation, match="exceeds"):
        wire.send(u32(100_000))


# --------------------------------------------------------------------------- Apple ARD (30)


def aes_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def ard_server_reads(response: bytes, server_private: int, size: int = 128) -> tuple[bytes, bytes]:
    """What an ARD server recovers: the user name and password fields (up to their NUL)."""
    encrypted, client_public = response[:128], response[128:]
    assert len(client_public) == size
    shared = pow(int.from_bytes(client_public, "big"), server_private, OAKLEY2).to_bytes(size, "big")
    plain = aes_ecb_decrypt(hashlib.md5(shared).digest(), encrypted)
    return plain[:64].split(b"\0")[0], plain[64:].split(b"\0")[0]


SERVER_PRIVATE = 0x5EC12E7 ** 7
ARD_PARAMS = struct.pack(">HH", 2, 128) + OAKLEY2.to_bytes(128, "big") + pow(2, SERVER_PRIVATE, OAKLEY2).to_bytes(128, "big")


def test_ard_known_answer_with_fixed_keys():
    padding = bytes(range(128))
    got = dhauth.ard_response(2, OAKLEY2.to_bytes(128, "big"), pow(2, SERVER_PRIVATE, OAKLEY2).to_bytes(128, "big"),
                              "zoë", "pw", private=12345, padding=padding)
    # computed here from the spec, independently of dhauth
    ours = pow(2, 12345, OAKLEY2).to_bytes(128, "big")
    shared = pow(pow(2, SERVER_PRIVATE, OAKLEY2), 12345, OAKLEY2).to_bytes(128, "big")
    plain = bytearray(padding)
    plain[0:5], plain[64:67] = "zoë".encode() + b"\0", b"pw\0"
    encryptor = Cipher(algorithms.AES(hashlib.md5(shared).digest()), modes.ECB()).encryptor()
    assert got == encryptor.update(bytes(plain)) + encryptor.finalize() + ours


def test_ard_handshake_on_rfb_3889():
    wire = Wire(ClientHandshake(Credentials(password="macpass", username="zoe")))
    wire.send(b"RFB 003.889\n" + b"\x02\x1e\x02")
    assert wire.recv(12) == V38 and wire.recv(1) == b"\x1e"  # ARD: user name + password beat VncAuth
    wire.send(ARD_PARAMS)
    assert ard_server_reads(wire.recv(256), SERVER_PRIVATE) == (b"zoe", b"macpass")
    wire.send(OK)
    assert finish(wire).method == sec.ARD


def test_ard_failure_reason():
    wire = Wire(ClientHandshake(Credentials(password="bad", username="zoe")))
    wire.send(b"RFB 003.889\n\x01\x1e")
    wire.recv(13)
    wire.send(ARD_PARAMS)
    wire.recv(256)
    with pytest.raises(AuthenticationFailed, match=r"rejected the user name or password \(Apple ARD\): "
                                                   "Authentication failed"):
        wire.send(u32(1) + u32(22) + b"Authentication failed\0")  # C servers send the NUL too


@pytest.mark.parametrize("params, message", [
    (struct.pack(">HH", 2, 128) + OAKLEY2.to_bytes(128, "big") + (1).to_bytes(128, "big"), "public value"),
    (struct.pack(">HH", 2, 128) + OAKLEY2.to_bytes(128, "big") + (OAKLEY2 - 1).to_bytes(128, "big"), "public value"),
    (struct.pack(">HH", 1, 128) + OAKLEY2.to_bytes(128, "big") + (5).to_bytes(128, "big"), "generator"),
    (struct.pack(">HH", 2, 16) + (2**127 - 1).to_bytes(16, "big") + (5).to_bytes(16, "big"), "key size 16"),
])
def test_ard_refuses_degenerate_parameters(params, message):
    wire = Wire(ClientHandshake(Credentials(password="p", username="u")))
    wire.send(b"RFB 003.889\n\x01\x1e")
    wire.recv(13)
    with pytest.raises(UnsupportedSecurity, match=message):
        wire.send(params)


def test_ard_key_size_is_bounded_before_reading():
    wire = Wire(ClientHandshake(Credentials(password="p", username="u")))
    wire.send(b"RFB 003.889\n\x01\x1e")
    wire.recv(13)
    with pytest.raises(ProtocolViolation, match="key size"):
        wire.send(struct.pack(">HH", 2, 60000))


@settings(max_examples=40, deadline=None)
@given(user=st.text(max_size=80), password=st.text(min_size=1, max_size=80))
def test_ard_server_recovers_any_credentials(user, password):
    response = dhauth.ard_response(2, OAKLEY2.to_bytes(128, "big"), pow(2, SERVER_PRIVATE, OAKLEY2).to_bytes(128, "big"),
                                   user, password)
    got_user, got_password = ard_server_reads(response, SERVER_PRIVATE)
    # UTF-8, cut between characters to fit 63 bytes plus the NUL
    assert user.encode().startswith(got_user) and len(got_user) <= 63
    assert password.encode().startswith(got_password) and len(got_password) <= 63
    assert got_user.decode() == user[:len(got_user.decode())]
    if "\0" not in user and len(user.encode()) <= 63:
        assert got_user == user.encode()


def test_ard_without_cryptography_says_what_to_install(monkeypatch):
    monkeypatch.setattr(sec, "aes_available", lambda: False)
    wire = Wire(ClientHandshake(Credentials(password="p", username="u")))
    with pytest.raises(UnsupportedSecurity, match="install the Python package 'cryptography'"):
        wire.send(b"RFB 003.889\n\x01\x1e")


# --------------------------------------------------------------------------- MS-Logon II (113)


def des_cbc_decrypt(key: bytes, data: bytes) -> bytes:
    """UltraVNC's vncEncryptBytes2 undone with OpenSSL: DES-CBC (3DES with one key thrice),
    VNC's bit-reversed key bytes, the key itself as IV."""
    reversed_key = bytes(int(f"{b:08b}"[::-1], 2) for b in key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        decryptor = Cipher(TripleDES(reversed_key * 3), modes.CBC(key)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


MS_GEN, MS_PRIVATE = 5, 0x1F2E3D4C5B6A


def mslogon_server_reads(response: bytes) -> tuple[bytes, bytes]:
    client_public = int.from_bytes(response[:8], "big")
    key = pow(client_public, MS_PRIVATE, P64).to_bytes(8, "big")
    return (des_cbc_decrypt(key, response[8:264]).split(b"\0")[0],
            des_cbc_decrypt(key, response[264:328]).split(b"\0")[0])


MS_PARAMS = MS_GEN.to_bytes(8, "big") + P64.to_bytes(8, "big") + pow(MS_GEN, MS_PRIVATE, P64).to_bytes(8, "big")


def test_mslogon2_handshake():
    wire = Wire(ClientHandshake(Credentials(password="Winpass1", username="OFFICE\\zoe")))
    wire.send(V38 + b"\x02\x71\x02")
    assert wire.recv(13) == V38 + b"\x71"  # MS-Logon II: a Windows account beats the VNC password
    wire.send(MS_PARAMS)
    assert mslogon_server_reads(wire.recv(328)) == (b"OFFICE\\zoe", b"Winpass1")
    wire.send(OK)
    assert finish(wire).method == sec.MSLOGON2


def test_mslogon2_known_answer_with_fixed_keys():
    padding = bytes(320)
    got = dhauth.mslogon2_response(MS_PARAMS[:8], MS_PARAMS[8:16], MS_PARAMS[16:], "u", "p", private=777,
                                   padding=padding)
    key = pow(pow(MS_GEN, MS_PRIVATE, P64), 777, P64).to_bytes(8, "big")
    reversed_key = bytes(int(f"{b:08b}"[::-1], 2) for b in key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        enc = lambda data: (lambda e: e.update(data) + e.finalize())(  # noqa: E731
            Cipher(TripleDES(reversed_key * 3), modes.CBC(key)).encryptor())
    assert got == pow(MS_GEN, 777, P64).to_bytes(8, "big") + enc(b"u" + bytes(255)) + enc(b"p" + bytes(63))


# What a config file or password file can hold: text without NUL, and no lone surrogates (UTF-8 decoding never yields them).
CONFIG_TEXT = st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))


@settings(max_examples=40, deadline=None)
@given(user=st.text(alphabet=CONFIG_TEXT, max_size=300), password=st.text(alphabet=CONFIG_TEXT, min_size=1, max_size=80))
def test_mslogon2_server_recovers_any_credentials(user, password):
    got_user, got_password = mslogon_server_reads(dhauth.mslogon2_response(
        MS_PARAMS[:8], MS_PARAMS[8:16], MS_PARAMS[16:], user, password))
    assert user.encode().startswith(got_user) and len(got_user) <= 255
    assert password.encode().startswith(got_password) and len(got_password) <= 63
    if len(user.encode()) <= 255:
        assert got_user == user.encode()


# --------------------------------------------------------------------------- which login, and what is said


U, P = "user", "pass"
CERT = Trust(pins=("a" * 64,))


@pytest.mark.parametrize("offered, creds, chosen", [
    ([sec.NONE, sec.VNC_AUTH], Credentials(), sec.NONE),
    ([sec.NONE, sec.VNC_AUTH], Credentials(password=P), sec.VNC_AUTH),
    ([sec.VNC_AUTH, sec.ARD], Credentials(password=P), sec.VNC_AUTH),
    ([sec.VNC_AUTH, sec.ARD], Credentials(password=P, username=U), sec.ARD),
    ([sec.VNC_AUTH, sec.MSLOGON2], Credentials(password=P, username=U), sec.MSLOGON2),
    ([sec.VNC_AUTH, sec.VENCRYPT], Credentials(password=P), sec.VENCRYPT),
    ([sec.VNC_AUTH, sec.TIGHT], Credentials(password=P), sec.VNC_AUTH),
    ([sec.TIGHT], Credentials(), sec.TIGHT),
    ([sec.VNC_AUTH, sec.VENCRYPT], Credentials(password=P, allowed=frozenset({sec.VNC_AUTH})), sec.VNC_AUTH),
    ([sec.RA2, sec.RA2NE, sec.SASL], Credentials(password=P), None),
    # inside VeNCrypt
    ([sec.TLS_VNC, sec.X509_VNC, sec.X509_PLAIN], Credentials(password=P), sec.TLS_VNC),
    ([sec.TLS_VNC, sec.X509_VNC, sec.X509_PLAIN], Credentials(password=P, trust=CERT), sec.X509_VNC),
    ([sec.TLS_VNC, sec.X509_VNC, sec.X509_PLAIN], Credentials(password=P, username=U, trust=CERT), sec.X509_PLAIN),
    ([sec.PLAIN, sec.TLS_NONE], Credentials(password=P, username=U), sec.TLS_NONE),
    ([sec.X509_NONE], Credentials(), None),
])
def test_strongest_login_the_agent_has_credentials_for(offered, creds, chosen):
    assert sec.choose(offered, creds) == chosen


@pytest.mark.parametrize("version, offered, creds, sentence", [
    (b"RFB 005.000\n", b"\x02\x05\x06", Credentials(password=P),
     'RealVNC Server offers only its own encryption (RA2 and RA2ne), which the agent cannot speak: in RealVNC '
     'Server\'s Options → Security, set Encryption to "Prefer off" and Authentication to "VNC password" '
     '(parameters Encryption=PreferOff and Authentication=VncAuth), then give the agent that password'),
    (V38, b"\x01\x06", Credentials(password=P),
     "The VNC server offers only RA2ne, which the agent does not speak: add VncAuth or TLSVnc to the server's "
     "security types (TigerVNC: -SecurityTypes TLSVnc,VncAuth)"),
    (b"RFB 003.889\n", b"\x03\x1e\x1e\x23", Credentials(password=P),
     "macOS Screen Sharing offers only Apple ARD and 35 (Apple ARD needs a user name): set vnc_username to "
     "the account it logs in as, and that account's password in vnc_password_file"),
    (V38, b"\x02\x71\x71", Credentials(),
     "The VNC server offers only MSLogon II: set vnc_username to the account it logs in as, and that "
     "account's password in vnc_password_file"),
    (V38, b"\x02\x11\x14", Credentials(password=P),
     "The VNC server offers only Ultra and SASL, which the agent does not support: turn on VNC password "
     "authentication (VncAuth) or VeNCrypt with TLS in the VNC server's settings"),
])
def test_no_usable_login_says_what_to_do(version, offered, creds, sentence):
    client = ClientHandshake(creds)
    with pytest.raises(UnsupportedSecurity) as info:
        client.receive_data(version + offered)
    assert str(info.value) == sentence


def test_server_reasons_lose_trailing_nul_and_control_characters():
    client = ClientHandshake(PASSWORD)
    with pytest.raises(ServerRefused) as info:
        reason = b"Too many security\tfailures\0"
        client.receive_data(V38 + b"\x00" + u32(len(reason)) + reason)
    assert str(info.value) == "VNC server refused the connection: Too many security failures"


# --------------------------------------------------------------------------- ClientInit: the viewer's shared flag


@pytest.mark.parametrize("shared, flag", [(True, b"\x01"), (False, b"\x00")])
def test_client_init_waits_for_the_viewers_flag(shared, flag):
    client = ClientHandshake(PASSWORD, shared=None)
    assert client.receive_data(V38 + b"\x01\x02") == []
    client.data_to_send()
    assert client.receive_data(CHALLENGE) == []
    client.data_to_send()
    (event,) = client.receive_data(OK)
    assert event == Authenticated((3, 8), sec.VNC_AUTH)
    assert client.data_to_send() == b""  # no ClientInit until the viewer's is known
    assert client.client_init(shared) == []
    assert client.data_to_send() == flag
    (complete,) = client.receive_data(SERVER_INIT.raw)
    assert complete.server_init == SERVER_INIT
    with pytest.raises(ProtocolViolation):
        client.client_init(True)


# --------------------------------------------------------------------------- chunking through TLS


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_vencrypt_any_chunking_gives_the_same_login(data):
    def chunk(blob: bytes) -> list[bytes]:
        cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(blob) - 1)), max_size=6))))
        bounds = [0, *[c for c in cuts if c < len(blob)], len(blob)]
        return [blob[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]

    wire = Wire(ClientHandshake(PASSWORD), chunk=chunk)
    vencrypt_until_subtype(wire, [sec.TLS_VNC], sec.TLS_VNC)
    wire.send(b"\x01")
    wire.start_tls(anon_server())
    wire.send(CHALLENGE)
    assert wire.recv(16) == vnc_auth_response(PASSWORD, CHALLENGE)
    wire.send(OK)
    complete = finish(wire, b"tail")
    assert complete.leftover == b"tail" and complete.server_init == SERVER_INIT
