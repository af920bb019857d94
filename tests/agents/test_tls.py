"""TLS to the gateway: verified by default, CA bundle, SHA-256 pin, ws:// refused, HTTPS_PROXY.

A real gateway behind a TLS terminator using a certificate made here by a throw-away CA,
and a tiny HTTP CONNECT proxy; everything on 127.0.0.1.
"""

from __future__ import annotations

import pytest

from agents.config import AgentSettings, read_credential
from agents.doctor import check_gateway
from agents.transport import HTTPClient, InsecureRefused, PinMismatch, TLSOptions, TransportError, open_socket
from tests.agents.conftest import ConnectProxy, RawViewer, RFB33Server, TLSTerminator, live_agent
from tests.support import AgentProcess, wait_for

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
              "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def tls_gateway(agent_host, tls_files):
    term = TLSTerminator(tls_files, agent_host.gateway.port)
    yield term
    term.stop()


@pytest.fixture(scope="module")
def credential(agent_host):
    agent = agent_host.agent("tls-pc", None, start=False, grant=None)
    return read_credential(agent.credential)[1]


def check(url: str, credential: str, **tls) -> dict:
    return dict(check_gateway(AgentSettings(**tls), url, credential))


def https(term) -> str:
    return f"https://127.0.0.1:{term.port}"


def test_verification_fails_by_default(tls_gateway, credential):
    answers = check(https(tls_gateway), credential)
    assert answers["gateway reachable"].startswith("NO — the certificate of 127.0.0.1:")
    assert "is not trusted" in answers["gateway reachable"]
    assert "--ca-bundle" in answers["gateway reachable"] and "--pin-sha256" in answers["gateway reachable"]
    assert answers["credential valid"].startswith("unknown")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_ca_bundle(tls_gateway, tls_files, credential, host):
    answers = check(f"https://{host}:{tls_gateway.port}", credential, ca_bundle=str(tls_files.ca))
    assert answers == {"gateway reachable": "yes", "credential valid": "yes (machine 'tls-pc')"}


def test_ca_bundle_still_checks_the_name(agent_host, tls_files, tiny_servers):
    """The certificate names 127.0.0.1 and localhost; served on 127.0.0.2 it must not pass."""
    other = tiny_servers(TLSTerminator, tls_files, agent_host.gateway.port, "127.0.0.2")
    with pytest.raises(TransportError, match="not trusted.*IP address mismatch"):
        open_socket(f"https://127.0.0.2:{other.port}", TLSOptions(ca_bundle=str(tls_files.ca)))


def test_right_pin(tls_gateway, tls_files, credential):
    fp = tls_files.fingerprint
    assert check(https(tls_gateway), credential, pin_sha256=fp)["credential valid"].startswith("yes")
    # openssl's notation (upper case, colons) and a list with the old and the new certificate
    colons = ":".join(fp[i:i + 2] for i in range(0, 64, 2)).upper()
    assert check(https(tls_gateway), credential, pin_sha256=colons)["gateway reachable"] == "yes"
    assert check(https(tls_gateway), credential, pin_sha256="00" * 32 + "," + fp)["gateway reachable"] == "yes"


def test_wrong_pin(tls_gateway, tls_files, credential):
    wrong = "ab" * 32
    with pytest.raises(PinMismatch, match=f"SHA-256 is {tls_files.fingerprint}, but the agent is pinned to {wrong}"):
        open_socket(https(tls_gateway), TLSOptions(pin_sha256=wrong))
    answers = check(https(tls_gateway), credential, pin_sha256=wrong, ca_bundle=str(tls_files.ca))
    assert answers["gateway reachable"].startswith("NO — gateway certificate SHA-256 is")  # the pin wins over the CA


def test_plain_ws_refused_without_insecure_dev(agent_host, credential):
    url = agent_host.gateway.url  # http://127.0.0.1:PORT
    answers = check(url, credential)
    assert answers["gateway reachable"] == "NO — refusing plain ws:// (use https, or --insecure-dev for a test gateway)"
    with pytest.raises(InsecureRefused):
        HTTPClient(url, TLSOptions()).json("GET", "/healthz")
    assert check(url, credential, insecure_dev=True)["credential valid"] == "yes (machine 'tls-pc')"


def test_https_proxy_connect(tls_gateway, tls_files, credential, tiny_servers, monkeypatch):
    proxy = tiny_servers(ConnectProxy)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    answers = check(https(tls_gateway), credential, ca_bundle=str(tls_files.ca))
    assert answers["credential valid"] == "yes (machine 'tls-pc')"
    assert proxy.requests == [f"CONNECT 127.0.0.1:{tls_gateway.port} HTTP/1.1"]


def test_no_proxy_bypasses_the_proxy(tls_gateway, tls_files, credential, tiny_servers, monkeypatch):
    proxy = tiny_servers(ConnectProxy)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert check(https(tls_gateway), credential, ca_bundle=str(tls_files.ca))["gateway reachable"] == "yes"
    assert proxy.requests == []


def test_proxy_that_refuses(tls_gateway, tls_files, tiny_servers, monkeypatch):
    proxy = tiny_servers(ConnectProxy)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    with pytest.raises(TransportError, match="refused CONNECT example.invalid:443: HTTP/1.1 403 Forbidden"):
        open_socket("https://example.invalid/", TLSOptions())
    assert proxy.requests == ["CONNECT example.invalid:443 HTTP/1.1"]


class ProxiedAgent(AgentProcess):
    proxy_url: str = ""

    def env(self) -> dict:
        return {**super().env(), "HTTPS_PROXY": self.proxy_url, "NO_PROXY": ""}


def test_agent_process_through_proxy_and_tls_with_pin(agent_host, tls_gateway, tls_files, tiny_servers):
    """The real agent: enrol and run over https through HTTPS_PROXY, trusting only the pin;
    then a session's stream takes the same way."""
    proxy = tiny_servers(ConnectProxy)
    vnc = tiny_servers(RFB33Server, color=(0, 0, 255))
    gw = agent_host.gateway
    code = gw.add_machine("tls-agent")
    gw.cli("grant", "emp", "tls-agent")
    agent = ProxiedAgent(agent_host.base / "agent-tls", https(tls_gateway), vnc,
                         extra_args=("--pin-sha256", tls_files.fingerprint))
    agent.proxy_url = f"http://127.0.0.1:{proxy.port}"
    agent_host.agents.append(agent)
    agent.workdir.mkdir(parents=True)
    res = agent.command("enroll", "--gateway", https(tls_gateway), "--code", code, "--credential-file",
                        str(agent.credential), "--pin-sha256", tls_files.fingerprint)
    assert "enrolled as machine 'tls-agent'" in res.stdout
    agent.start()
    mid = agent_host.machine_id("tls-agent")
    wait_for(lambda: live_agent(gw, mid) is not None, timeout=20, interval=0.1, what="agent online over TLS")
    viewer = RawViewer.open(gw.url, "tls-agent")
    try:
        assert viewer.handshake() == ("ok", (64, 48, "rfb33-test"))
    finally:
        viewer.close()
    targets = {r for r in proxy.requests}
    assert targets == {f"CONNECT 127.0.0.1:{tls_gateway.port} HTTP/1.1"}
    assert len(proxy.requests) >= 3  # enrol, control channel, the session's stream
    assert "refusing plain" not in agent.log_text()


def test_agent_process_with_wrong_pin_never_connects(agent_host, tls_gateway, tiny_servers):
    vnc = tiny_servers(RFB33Server)
    agent = agent_host.agent("tls-wrong-pin", vnc, start=False, grant=None)
    agent.extra_args = ("--gateway", https(tls_gateway), "--pin-sha256", "cd" * 32)
    agent.start()
    wait_for(lambda: "but the agent is pinned to" in agent.log_text(), timeout=15, what="pin mismatch logged")
    assert live_agent(agent_host.gateway, agent_host.machine_id("tls-wrong-pin")) is None
    assert agent.proc.poll() is None  # keeps retrying (the certificate may be fixed), with backoff
