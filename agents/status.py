"""``python -m agents status``: plain answers to "why can't I connect?"."""

from __future__ import annotations

from . import vnc
from .config import ConfigError, read_credential
from .protocol import control
from .transport import TransportError, open_websocket


def report(settings) -> tuple[bool, list[str]]:
    lines = []
    try:
        gateway, credential = read_credential(settings.credential_path)
    except ConfigError as exc:
        return False, [f"credential: missing — {exc}"]
    gateway = settings.gateway or gateway
    lines.append(f"gateway: {gateway}")
    ok = True
    base = "ws" + gateway[4:] if gateway.startswith("http") else gateway
    try:
        ws = open_websocket(base.rstrip("/") + "/ws/agent", settings.tls)
    except TransportError as exc:
        lines.append(f"gateway reachable: NO — {exc}")
        lines.append("credential valid: unknown (gateway not reachable)")
        ok = False
    else:
        lines.append("gateway reachable: yes")
        try:
            ws.settimeout(15)
            ws.write_message(control.encode(control.Hello(credential=credential, info=control.AgentInfo(), mode="check")))
            answer = control.decode_from_gateway(ws.read_message() or b"{}")
            if isinstance(answer, control.Welcome):
                lines.append(f"credential valid: yes (machine {answer.machine!r})")
            else:
                lines.append(f"credential valid: NO — {getattr(answer, 'message', answer)}")
                ok = False
        except (control.ControlError, TransportError, OSError) as exc:
            lines.append(f"credential valid: unknown — {exc}")
            ok = False
        finally:
            ws.close_with(1000, "status check")
    vnc_ok, detail = vnc.probe(settings.vnc_host, settings.vnc_port, settings.vnc_secret())
    where = f"{settings.vnc_host}:{settings.vnc_port}"
    if vnc_ok:
        lines.append(f"VNC server reachable: yes ({where})")
        lines.append(f"VNC password accepted: yes — {detail}")
    elif "refused the agent" in detail:
        lines.append(f"VNC server reachable: yes ({where})")
        lines.append(f"VNC password accepted: NO — {detail}")
    else:
        lines.append(f"VNC server reachable: NO — {detail}")
        lines.append("VNC password accepted: unknown")
    return ok and vnc_ok, lines
