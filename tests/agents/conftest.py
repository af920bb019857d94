"""Agent-only test helpers: a CA and server certificate, a TLS terminator, an
HTTP CONNECT proxy, misbehaving VNC servers, a raw viewer, Redis look-ups.

Everything listens on 127.0.0.1 only, runs in daemon threads and is stopped
by the fixture that made it.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import io
import ipaddress
import itertools
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agents.protocol import control
from agents.websocket import FramedWebSocket
from tests.support import PYTHON, ROOT, AgentProcess, Gateway, VNCServer, free_port, stop_process, wait_for

_module_counter = itertools.count(1)

# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class TLSFiles:
    ca: Path          # the CA certificate (what --ca-bundle gets)
    cert: Path        # server certificate chain (leaf + CA)
    key: Path
    fingerprint: str  # SHA-256 of the leaf certificate's DER (what --pin-sha256 gets)


def _make_tls(directory: Path) -> TLSFiles:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ponte test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key",
                     hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest())
    files.ca.write_bytes(ca.public_bytes(pem))
    files.cert.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    files.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> TLSFiles:
    """A throw-away CA and a certificate for 127.0.0.1/localhost signed by it."""
    return _make_tls(tmp_path_factory.mktemp("tls"))


# --------------------------------------------------------------------------- tiny servers


class OneShotServer:
    """Listens on 127.0.0.1; serves each connection with the current ``script(conn)``."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.script = None
        self.errors: list = []
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.settimeout(5)
            try:
                self.script(conn)
            except Exception as exc:  # e.g. a stream the junk asked for knocking: never stop serving
                self.errors.append(exc)
            finally:
                conn.close()

    def close(self):
        self.listener.close()
        self._thread.join(5)


def accept_ws(conn) -> FramedWebSocket:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(1)
        assert chunk, "client went away"
        head += chunk
    headers = http.client.parse_headers(io.BytesIO(head.split(b"\r\n", 1)[1]))
    ws = FramedWebSocket(control.DEFAULT_MAX_MESSAGE)
    ws.accept(conn, headers)
    return ws




def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Server:
    """Accept loop in a thread; ``handle(conn)`` per connection in its own thread."""

    def __init__(self, host: str = "127.0.0.1"):
        self.listener = socket.create_server((host, 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.accepted = 0
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            t = threading.Thread(target=self._guarded, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _guarded(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except OSError:
            pass

    def track(self, sock: socket.socket) -> socket.socket:
        self._conns.append(sock)
        return sock

    def thread(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()
        for conn in self._conns:
            for step in (lambda: conn.shutdown(socket.SHUT_RDWR), conn.close):
                try:
                    step()
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=3)


class TLSTerminator(_Server):
    """TLS in front of a plain TCP backend (what a reverse proxy does for the gateway)."""

    def __init__(self, files: TLSFiles, backend_port: int, host: str = "127.0.0.1"):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(files.cert, files.key)
        self.backend_port = backend_port
        self.handshakes_failed = 0
        super().__init__(host)

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self.track(self.ctx.wrap_socket(conn, server_side=True))
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1
            return
        tls.settimeout(None)
        backend = self.track(socket.create_connection(("127.0.0.1", self.backend_port)))
        self.thread(_pump, backend, tls)
        _pump(tls, backend)


class ConnectProxy(_Server):
    """An HTTP proxy that only does CONNECT, only to 127.0.0.1; remembers what it was asked."""

    def __init__(self):
        self.requests: list[str] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = conn.recv(1)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.requests.append(line)
        method, _, rest = line.partition(" ")
        target = rest.split(" ", 1)[0]
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or host not in ("127.0.0.1", "localhost"):
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        backend = self.track(socket.create_connection(("127.0.0.1", int(port))))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        conn.settimeout(None)
        self.thread(_pump, backend, conn)
        _pump(conn, backend)


class BadVNC(_Server):
    """A "VNC server" that misbehaves in one of ``MODES``; ``password`` is None (duck-types VNCServer)."""

    MODES = ("junk", "silent", "dribble", "huge-name", "unsupported", "refuse")
    password = None

    def __init__(self, mode: str):
        assert mode in self.MODES
        self.mode = mode
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        if self.mode == "junk":  # endless random bytes
            while not self._stop.is_set():
                conn.sendall(os.urandom(4096))
                time.sleep(0.01)
        elif self.mode == "silent":  # accepts, never speaks
            self._stop.wait(30)
        elif self.mode == "dribble":  # a valid start, then one byte every 0.3 s, forever
            for byte in b"RFB 003.008\n" + b"\x01" * 10_000:
                if self._stop.wait(0.3):
                    return
                conn.sendall(bytes([byte]))
        elif self.mode == "huge-name":  # announces a 4 GB desktop name
            conn.sendall(b"RFB 003.008\n")
            conn.recv(12)
            conn.sendall(b"\x01\x01")
            conn.recv(1)
            conn.sendall(struct.pack(">I", 0) + struct.pack(">HH16sI", 64, 48, bytes(16), 0xFFFFFFF0))
            self._stop.wait(30)
        elif self.mode == "unsupported":  # RFB 3.8 offering only RA2 and SASL
            conn.sendall(b"RFB 003.008\n")
            conn.recv(12)
            conn.sendall(bytes([2, 5, 20]))
            self._stop.wait(5)
        elif self.mode == "refuse":  # RFB 3.3 server refusing with a reason
            conn.sendall(b"RFB 003.003\n")
            conn.recv(12)
            reason = b"Too many security failures"
            conn.sendall(struct.pack(">II", 0, len(reason)) + reason)


class SwitchableVNC(BadVNC):
    """One port whose behaviour can change between connections: a ``BadVNC`` mode or "good"
    (an ``RFB33Server`` without password)."""

    def __init__(self, mode: str = "good"):
        self._good = None
        self.mode = mode
        _Server.__init__(self)

    def handle(self, conn: socket.socket) -> None:
        if self.mode == "good":
            RFB33Server.handle(self._good_server(), conn)
        else:
            BadVNC.handle(self, conn)

    def _good_server(self):
        if self._good is None:
            good = object.__new__(RFB33Server)
            good.password, good.size, good.color, good.client_versions = None, (64, 48), (0, 255, 0), []
            self._good = good
        return self._good


class RFB33Server(_Server):
    """A VNC server that speaks only RFB 3.3 (security chosen by the server: None or VncAuth)
    and answers every FramebufferUpdateRequest with one Raw rectangle of ``color``."""

    def __init__(self, password: str | None = None, size=(64, 48), color=(255, 0, 0)):
        self.password = password
        self.size = size
        self.color = color
        self.client_versions: list[bytes] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        from agents.protocol.rfb import vnc_auth_response

        conn.settimeout(30)
        conn.sendall(b"RFB 003.003\n")
        self.client_versions.append(_recv_exact(conn, 12))
        if self.password:
            challenge = os.urandom(16)
            conn.sendall(struct.pack(">I", 2) + challenge)
            if _recv_exact(conn, 16) != vnc_auth_response(self.password, challenge):
                conn.sendall(struct.pack(">I", 1))
                return
            conn.sendall(struct.pack(">I", 0))
        else:
            conn.sendall(struct.pack(">I", 1))
        _recv_exact(conn, 1)  # ClientInit
        w, h = self.size
        # 32 bpp, depth 24, little endian, true colour, max 255, shifts 16/8/0
        pf = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
        name = b"rfb33-test"
        conn.sendall(struct.pack(">HH", w, h) + pf + struct.pack(">I", len(name)) + name)
        pixel = bytes([self.color[2], self.color[1], self.color[0], 0])
        while True:
            kind = _recv_exact(conn, 1)[0]
            if kind == 0:    # SetPixelFormat
                _recv_exact(conn, 19)
            elif kind == 2:  # SetEncodings
                _, count = struct.unpack(">BH", _recv_exact(conn, 3))
                _recv_exact(conn, 4 * count)
            elif kind == 3:  # FramebufferUpdateRequest: one Raw rectangle, whole screen
                _recv_exact(conn, 9)
                conn.sendall(struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", 0, 0, w, h, 0) + pixel * (w * h))
            elif kind == 4:  # KeyEvent
                _recv_exact(conn, 7)
            elif kind == 5:  # PointerEvent
                _recv_exact(conn, 5)
            elif kind == 6:  # ClientCutText
                _, length = struct.unpack(">3sI", _recv_exact(conn, 7))
                _recv_exact(conn, length)
            else:
                return


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


@pytest.fixture
def tiny_servers():
    """``make(cls, *args)`` starts one of the servers above; all are stopped afterwards."""
    started = []

    def make(cls, *args, **kwargs):
        server = cls(*args, **kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


# --------------------------------------------------------------------------- TightVNC 1.3


def start_tightvnc(workdir: Path, password: str | None = "vncpass1", geometry: str = "320x240") -> VNCServer:
    """Debian's tightvncserver (Xtightvnc, TightVNC 1.3.10): offers VncAuth and Tight (16), or
    None and Tight without a password. Its log (``tightvnc.log``) names each failed login."""
    from tests.support import _wait_x, free_display, write_vnc_password

    workdir.mkdir(parents=True, exist_ok=True)
    display, port = free_display(), free_port()
    args = ["Xtightvnc", f":{display}", "-rfbport", str(port), "-localhost", "-geometry", geometry,
            "-depth", "24", "-alwaysshared", "-nolisten", "tcp", "-desktop", "tight-pc"]
    if password:
        pw = workdir / "tightpasswd"
        write_vnc_password(pw, password)
        args += ["-rfbauth", str(pw)]
    log = open(workdir / "tightvnc.log", "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=log)
    log.close()
    server = VNCServer("tightvnc", display, port, password, [proc], workdir)
    _wait_x(display, proc)
    return server


# --------------------------------------------------------------------------- VNC servers on a fixed port


@dataclass
class RestartableXvnc:
    """Xvnc on a fixed display and port, so it can be restarted in place."""

    workdir: Path
    password: str | None = "vncpass1"
    display: int = 0
    port: int = 0
    procs: list = field(default_factory=list)

    def start(self) -> "RestartableXvnc":
        from tests.support import _wait_x, free_display, write_vnc_password

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.display = self.display or free_display()
        self.port = self.port or free_port()
        args = ["Xvnc", f":{self.display}", "-rfbport", str(self.port), "-localhost", "-geometry", "160x120",
                "-depth", "24", "-BlacklistThreshold=10000", "-AlwaysShared", "-nolisten", "tcp"]
        if self.password:
            pw = self.workdir / "vncpasswd"
            write_vnc_password(pw, self.password)
            args += ["-SecurityTypes", "VncAuth", "-PasswordFile", str(pw)]
        else:
            args += ["-SecurityTypes", "None"]
        log = open(self.workdir / f"xvnc-{self.display}.log", "ab")
        proc = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        self.procs = [proc]
        _wait_x(self.display, proc)
        return self

    def as_server(self) -> VNCServer:
        return VNCServer("xvnc", self.display, self.port, self.password, self.procs, self.workdir)

    def set_color(self, color: str) -> None:
        self.as_server().set_color(color)

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)

    def restart(self) -> None:
        self.stop()
        # Xvnc removes its lock and socket on a clean exit; the new one needs them gone.
        wait_for(lambda: not Path(f"/tmp/.X{self.display}-lock").exists(), timeout=10, what="X lock gone")
        self.start()


# --------------------------------------------------------------------------- gateway, agents


@dataclass
class AgentHost:
    """A module-wide gateway (short heartbeat) plus the agents started on it."""

    gateway: Gateway
    base: Path
    agents: list = field(default_factory=list)
    own_gateway: bool = True

    def machine_id(self, name: str) -> int:
        for line in self.gateway.cli("machine", "list").splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[1] == name:
                return int(parts[0])
        raise KeyError(name)

    def agent(self, name: str, vnc, *, start: bool = True, wait_online: bool = True, extra_args=(),
              grant: str | None = "emp") -> AgentProcess:
        code = self.gateway.add_machine(name)
        if grant:
            self.gateway.cli("grant", grant, name)
        agent = AgentProcess(self.base / f"agent-{name}", self.gateway.url, vnc, extra_args=tuple(extra_args))
        agent.enroll(code)
        self.agents.append(agent)
        if start:
            agent.start()
            if wait_online:
                mid = self.machine_id(name)
                wait_for(lambda: live_agent(self.gateway, mid) is not None, timeout=20, interval=0.1,
                         what=f"{name} online")
        return agent

    def stop(self) -> None:
        for agent in self.agents:
            if agent.proc is not None and agent.proc.poll() is None:
                try:
                    os.kill(agent.proc.pid, signal.SIGCONT)  # in case a test left it stopped
                except OSError:
                    pass
            agent.stop()
        if self.own_gateway:
            self.gateway.stop()


def live_agent(gateway: Gateway, machine_id: int) -> dict | None:
    """The gateway's live record of an agent (Redis ``agent:<id>``), or None when offline."""
    import redis

    client = redis.Redis.from_url(gateway.redis_url)
    try:
        data = client.hgetall(f"{gateway.extra_env['PONTE_REDIS_PREFIX']}agent:{machine_id}")
    finally:
        client.close()
    return {k.decode(): v.decode() for k, v in data.items()} if data else None


def gateway_node(gateway: Gateway) -> str:
    return f"{socket.gethostname()}-{gateway.proc.pid}"


@pytest.fixture(scope="module")
def agent_host(tmp_path_factory, redis_server):
    """A gateway with a 1 s heartbeat and a user ``emp``, for one test module."""
    base = tmp_path_factory.mktemp("agenthost")
    prefix = f"a{os.getpid()}-{next(_module_counter)}:"
    gw = Gateway(base / "gateway", free_port(), redis_server,
                 extra_env={"PONTE_REDIS_PREFIX": prefix, "PONTE_HEARTBEAT": "1",
                            "PONTE_ENROL_LIMIT": "1000 per minute"}).start()  # many PCs from 127.0.0.1
    host = AgentHost(gw, base)
    try:
        gw.add_user("emp", "emppass12")
        yield host
    finally:
        host.stop()


def run_agent_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m agents ARGS`` as a person would run it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PONTE_")}
    full_env.update({"PYTHONPATH": str(ROOT)})
    full_env.update(env or {})
    return subprocess.run([PYTHON, "-m", "agents", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


# --------------------------------------------------------------------------- a raw RFB viewer through the gateway


class RawViewer:
    """A viewer at the WebSocket level (what noVNC does), for asserting on bytes and closes."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = bytearray()

    @classmethod
    def open(cls, gateway_url: str, machine: str, user: str = "emp", password: str = "emppass12",
             timeout: float = 20) -> "RawViewer":
        from urllib.parse import urlsplit

        from agents.forward import Forwarder, viewer_protocols
        from agents.transport import TLSOptions, open_websocket

        tls = TLSOptions(insecure_dev=True)
        fwd = Forwarder(gateway_url, machine, user, password, tls)
        fwd.login()
        issued = fwd.open_session()
        parts = urlsplit(gateway_url)
        ws = open_websocket(fwd.ws_url(), tls, headers={"Cookie": fwd.http.cookie_header()},
                            origin=f"{parts.scheme}://{parts.netloc}", protocols=viewer_protocols(issued["ticket"]))
        ws.settimeout(timeout)
        viewer = cls(ws)
        viewer.session = issued["session"]
        return viewer

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            msg = self.ws.read_message()
            if msg is None:
                raise EOFError(f"closed ({self.ws.close_code} {self.ws.close_reason}) after {bytes(self.buf)!r}")
            self.buf += msg
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def handshake(self, shared: bool = True) -> tuple[str, object]:
        """RFB 3.8 as a viewer: ``("ok", (w, h, name))`` or ``("refused", reason)``."""
        assert self.read(12) == b"RFB 003.008\n"
        self.ws.write_message(b"RFB 003.008\n")
        count = self.read(1)[0]
        if count == 0:
            (length,) = struct.unpack(">I", self.read(4))
            return "refused", self.read(length).decode("utf-8", "replace")
        types = self.read(count)
        assert types == b"\x01", types
        self.ws.write_message(b"\x01")
        assert self.read(4) == b"\0\0\0\0"
        self.ws.write_message(b"\x01" if shared else b"\x00")  # ClientInit (§7.3.1)
        w, h, _pf, name_len = struct.unpack(">HH16sI", self.read(24))
        return "ok", (w, h, self.read(name_len).decode())

    def request_update(self, w: int, h: int) -> None:
        self.ws.write_message(struct.pack(">BBHHHH", 3, 0, 0, 0, w, h))

    def wait_closed(self) -> tuple[int | None, str | None]:
        """Read until the WebSocket closes; the close code and reason."""
        while self.ws.read_message() is not None:
            pass
        return self.ws.close_code, self.ws.close_reason

    def close(self) -> None:
        self.ws.close_with(1000, "test done")
