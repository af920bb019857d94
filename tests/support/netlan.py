"""A small office LAN in network namespaces, for the Wake-on-LAN tests (issue 11 §5).

``lan`` (a fixture) builds a bridge in namespace ``lan``, the "waker" PC in namespace
``a`` and the sleeping PC in namespace ``b`` on one subnet, and a veth from the test's
own namespace into the bridge where the gateway listens; everything is removed in a
``finally``. ``sleeping_office`` then starts a gateway there and brings the office to
the moment of the test: the sleeping PC's agent said hello once (so the gateway knows
its MAC and subnet) and stopped, its neighbour's agent is online. Nothing leaves the
namespaces the test made. Skips, with the reason, when not root or ``ip netns`` fails.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from tests.support import PYTHON, ROOT, AgentProcess, Gateway, free_display, free_port, stop_process, wait_for

# A subnet per pytest-xdist worker: two workers' LANs (each with a host-side address) never clash.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
_THIRD = 77 + (int(_WORKER) if _WORKER.isdigit() else 0) % 100
SUBNET = ipaddress.IPv4Network(f"10.213.{_THIRD}.0/24")
GATEWAY_IP, WAKER_IP, SLEEPER_IP = (str(SUBNET.network_address + i) for i in (1, 2, 3))
SLEEPER_MAC = "02:77:00:00:00:03"
WAKER_MAC = "02:77:00:00:00:02"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


@dataclass
class Lan:
    lan: str
    a: str   # the waker's namespace
    b: str   # the sleeper's namespace
    host_link: str


@pytest.fixture
def lan():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    if _ip("netns", "list", check=False).returncode != 0:
        pytest.skip("ip netns is not available here")
    if str(SUBNET.network_address) in _ip("-j", "route", check=False).stdout:
        pytest.skip(f"{SUBNET} is in use on this machine; the test LAN would clash with it")
    tag = f"pw{os.getpid() % 100000}"
    net = Lan(f"{tag}lan", f"{tag}a", f"{tag}b", f"{tag}g")
    made: list[str] = []
    try:
        for ns in (net.lan, net.a, net.b):
            if _ip("netns", "add", ns, check=False).returncode != 0:
                pytest.skip("cannot create a network namespace here (ip netns add failed)")
            made.append(ns)
        _ip("-n", net.lan, "link", "add", "br0", "type", "bridge")
        _ip("-n", net.lan, "link", "set", "br0", "up")
        _ip("link", "add", net.host_link, "type", "veth", "peer", "name", "vg", "netns", net.lan)
        for port, ns in (("va", net.a), ("vb", net.b)):
            _ip("-n", net.lan, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        for port in ("vg", "va", "vb"):
            _ip("-n", net.lan, "link", "set", port, "master", "br0")
            _ip("-n", net.lan, "link", "set", port, "up")
        _ip("addr", "add", f"{GATEWAY_IP}/{SUBNET.prefixlen}", "dev", net.host_link)
        _ip("link", "set", net.host_link, "up")
        for ns, address, mac in ((net.a, WAKER_IP, WAKER_MAC), (net.b, SLEEPER_IP, SLEEPER_MAC)):
            _ip("-n", ns, "link", "set", "eth0", "address", mac)
            _ip("-n", ns, "addr", "add", f"{address}/{SUBNET.prefixlen}", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield net
    finally:
        _ip("link", "del", net.host_link, check=False)
        for ns in made:
            _ip("netns", "del", ns, check=False)


class NamespacedAgent(AgentProcess):
    """``python -m agents run`` inside a network namespace (``ip netns exec`` execs it: same pid)."""

    netns: str = ""

    def start(self) -> NamespacedAgent:
        log = open(self.workdir / "agent.log", "ab")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.netns, PYTHON, "-m", "agents", "run",
                                      *self.run_args()], cwd=ROOT, env=self.env(), stdout=log, stderr=log)
        return self


LISTENER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9))
print("ready", flush=True)
s.settimeout(float(sys.argv[1]))
data, (host, port) = s.recvfrom(2048)
print(host, data.hex(), flush=True)
"""


@dataclass
class Office:
    gateway: Gateway
    url: str
    sleeper: NamespacedAgent
    waker: NamespacedAgent
    lan: Lan
    started: list = field(default_factory=list)

    def listen(self, timeout: float = 30.0) -> subprocess.Popen:
        """A UDP listener on port 9 in the sleeper's namespace, bound when this returns."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.lan.b, sys.executable, "-c", LISTENER, str(timeout)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.started.append(proc)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        return proc

    @staticmethod
    def received(listener: subprocess.Popen) -> tuple[str, bytes]:
        """(sender address, datagram) of the first packet the listener got."""
        line = listener.stdout.readline().split()
        assert len(line) == 2, f"no packet: {listener.stderr.read()}"
        return line[0], bytes.fromhex(line[1])


def _agent(workdir, url: str, netns: str, code: str, vnc_port: int) -> NamespacedAgent:
    agent = NamespacedAgent(workdir, url, None, extra_args=("--vnc-port", str(vnc_port)))
    agent.netns = netns
    agent.enroll(code)  # from the test's namespace: the gateway's address is on its veth
    return agent


@contextlib.contextmanager
def sleeping_office(lan: Lan, tmp_path, redis_server, **env):
    """Gateway, ``emp`` granted ``sleeper-pc`` (asleep, its VNC server in namespace b), ``waker-pc`` online."""
    port = free_port()
    gw = Gateway(tmp_path / "gateway", port, redis_server,
                 extra_env={"PONTE_BIND": GATEWAY_IP, "PONTE_REDIS_PREFIX": f"wol{os.getpid()}-{port}:",
                            "PONTE_LOGIN_LIMIT": "1000 per minute", **env})
    url = f"http://{GATEWAY_IP}:{port}"
    started: list = []
    try:
        gw.start()
        started.append(gw)
        gw.add_user("emp", "emppass12")
        waker_code, sleeper_code = gw.add_machine("waker-pc"), gw.add_machine("sleeper-pc")
        gw.cli("grant", "emp", "sleeper-pc")
        display, vnc_port = free_display(), free_port()
        xvnc = subprocess.Popen(["ip", "netns", "exec", lan.b, "Xvnc", f":{display}", "-rfbport", str(vnc_port),
                                 "-localhost", "-geometry", "320x240", "-depth", "24", "-SecurityTypes", "None",
                                 "-BlacklistThreshold=10000", "-AlwaysShared", "-nolisten", "tcp"],
                                stdout=open(tmp_path / "xvnc.log", "wb"), stderr=subprocess.STDOUT)
        started.append(xvnc)
        sleeper = _agent(tmp_path / "sleeper", url, lan.b, sleeper_code, vnc_port)
        sleeper.start()
        started.append(sleeper)
        wait_for(lambda: gw.machine_state("sleeper-pc") == "online", timeout=30, interval=0.3,
                 what="the sleeping PC's agent online once")
        # The waker has no VNC server of its own: its VNC state does not matter for waking.
        waker = _agent(tmp_path / "waker", url, lan.a, waker_code, free_port())
        waker.start()
        started.append(waker)
        wait_for(lambda: gw.machine_state("waker-pc") in ("online", "vnc_down"), timeout=30, interval=0.3,
                 what="the waker's agent online")
        sleeper.stop()  # the PC goes to sleep
        wait_for(lambda: gw.machine_state("sleeper-pc") == "offline", timeout=15, interval=0.3,
                 what="the sleeping PC offline")
        office = Office(gw, url, sleeper, waker, lan, started)
        yield office
    finally:
        # Ours only, by handle; the lan fixture removes the namespaces next.
        for thing in reversed(started):
            if isinstance(thing, subprocess.Popen):
                stop_process(thing)
            else:
                thing.stop()
