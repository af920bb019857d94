"""The doctor behind ``python -m agents status``: plain answers to "why can't I connect?".

Four questions, each answered ``yes``, ``NO — why`` or ``unknown — why``::

    gateway reachable       TCP (through HTTPS_PROXY if set), TLS as configured, WebSocket
    credential valid        the gateway knows this PC's credential and has not revoked it
    VNC server reachable    something speaking RFB answers at vnc_host:vnc_port
    VNC password accepted   the full RFB handshake (with the strongest login the server
                            offers that the agent has credentials for) succeeds

plus, when it applies, why the VNC server's security types cannot be used. Each
answer says what to do: the sentences come from ``agents.vnc`` (cause and fix).
"""

from __future__ import annotations

from . import vnc
from .config import ConfigError, read_credential
from .protocol import control
from .protocol import security as sec
from .transport import TransportError, open_websocket, websocket_url
from .websocket import FramingError

STATUS_TIMEOUT = 15.0
NO_LOGIN = (sec.NONE, sec.TLS_NONE, sec.X509_NONE)

def check_gateway(settings, gateway: str, credential: str) -> list[tuple[str, str]]:
    """``[(question, answer)]`` for the gateway and the credential."""
    try:
        ws = open_websocket(websocket_url(gateway, "/ws/agent"), settings.tls, timeout=STATUS_TIMEOUT)
    except TransportError as exc:
        return [("gateway reachable", f"NO — {exc}"),
                ("credential valid", "unknown — the gateway is not reachable")]
    answers = [("gateway reachable", "yes")]
    conn = control.AgentConnection()
    try:
        ws.settimeout(STATUS_TIMEOUT)
        ws.write_message(conn.send(control.Hello(credential=credential, info=control.AgentInfo(), mode="check")))
        message = ws.read_message()
        if message is None:
            raise TransportError(f"the gateway closed the connection ({ws.close_code} {ws.close_reason or ''})")
        try:
            (answer,) = conn.receive(message)
        except control.RemoteProtocolError as exc:
            if exc.event is None:  # junk, not merely out of turn
                raise
            answer = exc.event
        if isinstance(answer, control.Welcome):
            answers.append(("credential valid", f"yes (machine {answer.machine!r})"))
        elif isinstance(answer, control.Refused):
            final = answer.code in control.REFUSED_FINAL
            answers.append(("credential valid", f"NO — the gateway says: {answer.message}"
                            + (" Ask your Ponte admin for a new enrolment code and run enroll again."
                               if final else "")))
        else:
            answers.append(("credential valid", f"unknown — unexpected answer {type(answer).__name__}"))
    except (control.ControlError, TransportError, FramingError, OSError) as exc:
        answers.append(("credential valid", f"unknown — {exc}"))
    finally:
        ws.close_with(1000, "status check")
    return answers


def check_vnc(settings) -> list[tuple[str, str]]:
    """``[(question, answer)]`` for the VNC server, from one full RFB handshake."""
    where = f"{settings.vnc_host}:{settings.vnc_port}"
    try:
        creds = settings.vnc_credentials()
    except ConfigError as exc:
        return [("VNC server reachable", "unknown — not checked"), ("VNC password accepted", f"NO — {exc}")]
    result = vnc.check(settings.vnc_host, settings.vnc_port, creds, timeout=settings.vnc_timeout)
    if result.ok:
        pw = "not needed (the VNC server asks for none)" if result.method in NO_LOGIN else "yes"
        return [("VNC server reachable", f"yes ({where}, {result.detail})"), ("VNC password accepted", pw)]
    why = result.detail
    if result.kind in (vnc.UNREACHABLE, vnc.TIMEOUT, vnc.PROTOCOL):
        return [("VNC server reachable", f"NO — {why}"), ("VNC password accepted", "unknown — not reached")]
    answers = [("VNC server reachable", f"yes ({where})")]
    if result.kind in (vnc.SECURITY, vnc.CERTIFICATE, vnc.TLS, vnc.VERSION):
        answers.append(("VNC password accepted", "unknown — the agent cannot use the server's security types"))
        answers.append(("VNC security type supported", f"NO — {why}"))
    else:
        answers.append(("VNC password accepted", f"NO — {why}"))
    return answers


def report(settings) -> tuple[bool, list[str]]:
    """``(all fine, lines to print)``."""
    answers: list[tuple[str, str]] = []
    try:
        gateway, credential = read_credential(settings.credential_path)
    except ConfigError as exc:
        answers += [("credential valid", f"NO — {exc}")]
    else:
        gateway = settings.gateway or gateway
        answers += [("gateway", gateway)]
        answers += check_gateway(settings, gateway, credential)
    answers += check_vnc(settings)
    ok = not any(a.startswith(("NO", "unknown")) for _q, a in answers)
    return ok, [f"{q}: {a}" for q, a in answers]
