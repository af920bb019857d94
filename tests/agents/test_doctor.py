"""``python -m agents status`` against a real gateway and real Xvnc: plain words for each question."""

from __future__ import annotations

import pytest

from tests.conftest import needs
from tests.support import free_port

pytestmark = [needs("Xvnc", "vncpasswd")]


def status(agent, *args: str):
    res = agent.command("status", "--credential-file", str(agent.credential), "--insecure-dev",
                        "--vnc-timeout", "3", *args, check=False)
    lines = dict(line.split(": ", 1) for line in res.stdout.splitlines() if ": " in line)
    return res.returncode, lines, res.stdout + res.stderr


@pytest.fixture(scope="module")
def xvnc_pw(tmp_path_factory):
    from tests.support import start_xvnc

    server = start_xvnc(tmp_path_factory.mktemp("st-xvnc"), password="vncpass1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def enrolled(agent_host, xvnc_pw):
    """An enrolled (not running) agent for the Xvnc with a password."""
    return agent_host.agent("st-pc", xvnc_pw, start=False)


def test_all_good(enrolled, xvnc_pw):
    code, lines, out = status(enrolled, "--vnc-port", str(xvnc_pw.port))
    print(out)
    assert code == 0, out
    assert lines["gateway reachable"] == "yes"
    assert lines["credential valid"] == "yes (machine 'st-pc')"
    assert lines["VNC server reachable"].startswith(f"yes (127.0.0.1:{xvnc_pw.port}, desktop ")
    assert "RFB 3.8" in lines["VNC server reachable"]
    assert lines["VNC password accepted"] == "yes"


def test_wrong_vnc_password_from_file(enrolled, xvnc_pw, tmp_path):
    pw = tmp_path / "vncpw"
    pw.write_text("not-it\n")
    # the file wins over nothing; the flag overrides PONTE_AGENT_VNC_PASSWORD from the environment
    code, lines, out = status(enrolled, "--vnc-port", str(xvnc_pw.port), "--vnc-password-file", str(pw),
                              "--vnc-password", "")
    print(out)
    assert code == 1
    assert lines["VNC server reachable"] == f"yes (127.0.0.1:{xvnc_pw.port})"
    assert lines["VNC password accepted"].startswith("NO — ")
    assert "rejected the password" in lines["VNC password accepted"]
    assert lines["credential valid"].startswith("yes")


def test_no_vnc_password_configured(agent_host, xvnc_pw, enrolled):
    res = enrolled.command("status", "--credential-file", str(enrolled.credential), "--insecure-dev",
                           "--vnc-port", str(xvnc_pw.port), "--vnc-password", "", check=False)
    assert res.returncode == 1
    assert "VNC password accepted: NO — " in res.stdout
    assert "offers only VncAuth: put its password in vnc_password_file" in res.stdout


def test_vnc_down(enrolled):
    port = free_port()
    code, lines, out = status(enrolled, "--vnc-port", str(port))
    print(out)
    assert code == 1
    assert lines["VNC server reachable"].startswith(f"NO — VNC server at 127.0.0.1:{port} is not answering")
    assert lines["VNC password accepted"].startswith("unknown")
    assert lines["gateway reachable"] == "yes"


def test_vnc_without_password(enrolled, vnc_factory):
    server = vnc_factory("xvnc", password=None)
    code, lines, out = status(enrolled, "--vnc-port", str(server.port), "--vnc-password", "")
    assert code == 0, out
    assert lines["VNC password accepted"] == "not needed (the VNC server asks for none)"


def test_x509_without_the_certificate_real_xvnc(enrolled, vnc_factory, tls_files):
    """TigerVNC offering only VeNCrypt X509Vnc and no certificate given to the agent: what to do."""
    server = vnc_factory("xvnc", extra=("-SecurityTypes", "X509Vnc", "-X509Cert", str(tls_files.cert),
                                        "-X509Key", str(tls_files.key)))
    code, lines, out = status(enrolled, "--vnc-port", str(server.port))
    print(out)
    assert code == 1
    assert lines["VNC server reachable"] == f"yes (127.0.0.1:{server.port})"
    assert lines["VNC security type supported"] == (
        f"NO — The VNC server at 127.0.0.1:{server.port} offers only VeNCrypt X509Vnc: give the agent the "
        "server's certificate (vnc_ca_file) or its SHA-256 fingerprint (vnc_pin_sha256).")
    # …and with the pin it logs in (VncAuth inside TLS 1.3)
    code, lines, out = status(enrolled, "--vnc-port", str(server.port), "--vnc-pin-sha256", tls_files.fingerprint)
    assert code == 0, out
    assert "VeNCrypt X509Vnc over TLSv1.3" in lines["VNC server reachable"]


def test_gateway_unreachable(enrolled, xvnc_pw):
    port = free_port()
    code, lines, out = status(enrolled, "--gateway", f"http://127.0.0.1:{port}", "--vnc-port", str(xvnc_pw.port))
    assert code == 1
    assert lines["gateway"] == f"http://127.0.0.1:{port}"
    assert lines["gateway reachable"].startswith(f"NO — cannot reach 127.0.0.1:{port}")
    assert lines["credential valid"].startswith("unknown")
    assert lines["VNC password accepted"] == "yes"


def test_missing_credential_still_checks_vnc(xvnc_pw, tmp_path):
    from tests.agents.conftest import run_agent_cli

    res = run_agent_cli("status", "--credential-file", str(tmp_path / "none"), "--vnc-port", str(xvnc_pw.port),
                        "--vnc-password", "vncpass1")
    assert res.returncode == 1
    assert "credential valid: NO — no usable credential" in res.stdout
    assert "run 'python -m agents enroll' first" in res.stdout
    assert "VNC password accepted: yes" in res.stdout


def test_revoked_credential(agent_host, xvnc_pw):
    agent = agent_host.agent("st-revoked", xvnc_pw, start=False)
    agent_host.gateway.cli("machine", "revoke", "st-revoked")
    code, lines, out = status(agent, "--vnc-port", str(xvnc_pw.port))
    print(out)
    assert code == 1
    assert lines["gateway reachable"] == "yes"
    assert lines["credential valid"].startswith("NO — the gateway says: ")
    assert "revoked" in lines["credential valid"]
    assert "run enroll again" in lines["credential valid"]
