"""The agent's logins against real VNC servers: TigerVNC (Xvnc), x11vnc, TightVNC 1.3.

Each row starts a server with the security settings an office might use and lets the
agent's own code (``vnc.check``, then a framebuffer update through ``vnc.connect``, TLS
included) log in with what an admin would configure. The outcome of every row is also
written to test-artifacts/vnc-login-matrix.txt: server, command, agent settings, result.
Types no server here offers (Apple ARD, MS-Logon II, RA2ne) are transcripts in test_logins.py.
"""

from __future__ import annotations

import shlex
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agents import vnc
from agents.config import AgentSettings
from agents.protocol import security as sec
from tests.agents.conftest import start_tightvnc
from tests.conftest import ARTIFACTS, needs
from tests.support import start_x11vnc, start_xvnc

pytestmark = [needs("Xvnc", "x11vnc", "Xvfb", "Xtightvnc", "vncpasswd"), pytest.mark.slow]

PW = "vncpass1"
MATRIX = ARTIFACTS / "vnc-login-matrix.txt"


@dataclass(frozen=True)
class Row:
    server: str            # "xvnc", "x11vnc", "tightvnc"
    args: tuple = ()       # security arguments for the server
    agent: dict = field(default_factory=dict)  # agent settings ("pin", "ca" stand for the test certificate)
    method: int = 0        # the login used, when it works
    kind: str = ""         # the failure kind, when it does not
    says: str = ""         # part of the admin's sentence
    password: str | None = PW
    x11_env: dict = field(default_factory=dict)


CERT = ("-X509Cert", "{cert}", "-X509Key", "{key}")
ROWS = {
    "xvnc-None": Row("xvnc", ("-SecurityTypes", "None"), method=sec.NONE, password=None),
    "xvnc-VncAuth": Row("xvnc", ("-SecurityTypes", "VncAuth"), method=sec.VNC_AUTH),
    "xvnc-VncAuth-wrong": Row("xvnc", ("-SecurityTypes", "VncAuth"), {"vnc_password": "wrong-pw"},
                              kind=vnc.PASSWORD, says="rejected the password: Authentication failure"),
    "xvnc-TLSNone": Row("xvnc", ("-SecurityTypes", "TLSNone"), method=sec.TLS_NONE),
    "xvnc-TLSVnc": Row("xvnc", ("-SecurityTypes", "TLSVnc"), method=sec.TLS_VNC),
    "xvnc-TLSVnc,VncAuth": Row("xvnc", ("-SecurityTypes", "TLSVnc,VncAuth"), method=sec.TLS_VNC),
    "xvnc-TLSVnc,VncAuth-only-VncAuth": Row("xvnc", ("-SecurityTypes", "TLSVnc,VncAuth"),
                                            {"vnc_security": "VncAuth"}, method=sec.VNC_AUTH),
    "xvnc-X509None-pin": Row("xvnc", ("-SecurityTypes", "X509None", *CERT), {"vnc_pin_sha256": "{pin}"},
                             method=sec.X509_NONE),
    "xvnc-X509Vnc-ca": Row("xvnc", ("-SecurityTypes", "X509Vnc", *CERT), {"vnc_ca_file": "{ca}"},
                           method=sec.X509_VNC),
    "xvnc-X509Vnc-pin": Row("xvnc", ("-SecurityTypes", "X509Vnc", *CERT), {"vnc_pin_sha256": "{pin}"},
                            method=sec.X509_VNC),
    "xvnc-X509Vnc-untrusted": Row("xvnc", ("-SecurityTypes", "X509Vnc", *CERT), kind=vnc.CERTIFICATE,
                                  says="offers only VeNCrypt X509Vnc: give the agent the server's certificate"),
    "xvnc-X509Vnc-wrong-pin": Row("xvnc", ("-SecurityTypes", "X509Vnc", *CERT), {"vnc_pin_sha256": "0" * 64},
                                  kind=vnc.CERTIFICATE, says="not the pinned one"),
    "xvnc-X509Vnc,TLSVnc-pin": Row("xvnc", ("-SecurityTypes", "X509Vnc,TLSVnc", *CERT),
                                   {"vnc_pin_sha256": "{pin}"}, method=sec.X509_VNC),
    "x11vnc-ssl-pin": Row("x11vnc", ("-ssl", "{pem}"), {"vnc_pin_sha256": "{rsa_pin}"}, method=sec.X509_VNC),
    "x11vnc-ssl-untrusted": Row("x11vnc", ("-ssl", "{pem}"), kind=vnc.CERTIFICATE,
                                says="it also offers VeNCrypt X509Vnc: give the agent the server's certificate"),
    "x11vnc-vencrypt-only-pin": Row("x11vnc", ("-ssl", "{pem}", "-vencrypt", "only"),
                                    {"vnc_pin_sha256": "{rsa_pin}"}, method=sec.X509_VNC),
    "x11vnc-vencrypt-only-ca": Row("x11vnc", ("-ssl", "{pem}", "-vencrypt", "only"), {"vnc_ca_file": "{rsa_ca}"},
                                   method=sec.X509_VNC),
    "xvnc-X509Vnc-missing-ca-file": Row("xvnc", ("-SecurityTypes", "X509Vnc", *CERT),
                                        {"vnc_ca_file": "/nonexistent/ca.pem"}, kind=vnc.CERTIFICATE,
                                        says="cannot read vnc_ca_file /nonexistent/ca.pem"),
    "x11vnc-ssl-ANON-seclevel0": Row("x11vnc", ("-ssl", "ANON", "-vencrypt", "only"), method=sec.TLS_VNC,
                                     x11_env={"OPENSSL_CONF": "{seclevel0}"}),
    "tightvnc-VncAuth": Row("tightvnc", method=sec.VNC_AUTH),
    "tightvnc-Tight-VncAuth": Row("tightvnc", agent={"vnc_security": "Tight"}, method=sec.VNC_AUTH),
    "tightvnc-Tight-none": Row("tightvnc", agent={"vnc_security": "Tight"}, method=sec.NONE, password=None),
}

SECLEVEL0 = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
CipherString = ALL:@SECLEVEL=0
"""


def _fill(value: str, files: dict) -> str:
    return value.format(**files) if isinstance(value, str) else value


def rsa_self_signed(directory: Path) -> tuple[Path, Path, str]:
    """x11vnc wants an RSA key, with the certificate, in one PEM file: (that file, the
    certificate alone for vnc_ca_file, its SHA-256)."""
    import datetime
    import hashlib
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem, crt = directory / "x11vnc.pem", directory / "x11vnc-cert.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()) + crt.read_bytes())
    return pem, crt, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@pytest.fixture(scope="module")
def cert_files(tls_files, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("vnc-cert")
    pem, crt, rsa_pin = rsa_self_signed(d)
    (d / "seclevel0.cnf").write_text(SECLEVEL0)
    return {"cert": str(tls_files.cert), "key": str(tls_files.key), "ca": str(tls_files.ca),
            "pin": tls_files.fingerprint, "pem": str(pem), "rsa_ca": str(crt), "rsa_pin": rsa_pin,
            "seclevel0": str(d / "seclevel0.cnf")}


@pytest.fixture(scope="module")
def matrix():
    lines: list[str] = []
    yield lines
    MATRIX.write_text("server | command | agent settings | outcome\n" + "\n".join(sorted(lines)) + "\n")


def start(row: Row, workdir: Path, files: dict):
    args = tuple(_fill(a, files) for a in row.args)
    if row.server == "xvnc":
        server = start_xvnc(workdir, password=row.password, extra=args)
        command = server.procs[0].args
    elif row.server == "x11vnc":
        env = {k: _fill(v, files) for k, v in row.x11_env.items()}
        server = start_x11vnc(workdir, password=row.password, extra=args, env=env)
        command = [f"{k}=…" for k in env] + list(server.procs[-1].args)
    else:
        server = start_tightvnc(workdir, password=row.password)
        command = server.procs[0].args
    return server, " ".join(shlex.quote(str(a)) for a in command)


def framebuffer_update(host: str, port: int, settings: AgentSettings) -> bytes:
    """Log in as a session does and ask for one framebuffer update through the relay socket."""
    sock, complete = vnc.connect(host, port, settings.vnc_credentials(), timeout=15)
    try:
        sock.settimeout(15)
        init = complete.server_init
        sock.sendall(struct.pack(">BxHi", 2, 1, 0))  # SetEncodings: Raw
        sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, init.width, init.height))
        data = sock.recv(4)
        return data
    finally:
        sock.close()


@pytest.mark.parametrize("name", list(ROWS))
def test_login(name, tmp_path, cert_files, matrix):
    row = ROWS[name]
    server, command = start(row, tmp_path / name, cert_files)
    try:
        agent = {"vnc_password": row.password or "", **{k: _fill(v, cert_files) for k, v in row.agent.items()}}
        settings = AgentSettings(vnc_port=server.port, **agent)
        result = vnc.check("127.0.0.1", server.port, settings.vnc_credentials(), timeout=15)
        shown = ", ".join(f"{k}={'…' if k == 'vnc_password' else v}" for k, v in row.agent.items()) or "-"
        outcome = f"ok: {result.detail}" if result.ok else f"{result.kind}: {result.detail}"
        matrix.append(f"{name} | {command} | {shown} | {outcome}")
        print(f"\n{name}: {outcome}")
        if row.method:
            assert result.ok, result.detail
            assert result.method == row.method, result.detail
            # …and a session relays through the same login (TLS too): a FramebufferUpdate comes back
            assert framebuffer_update("127.0.0.1", server.port, settings)[:1] == b"\x00"
        else:
            assert not result.ok and result.kind == row.kind, result.detail
            assert row.says in result.detail
            assert f"127.0.0.1:{server.port}" in result.detail  # the admin's sentence names the address
    finally:
        server.stop()
