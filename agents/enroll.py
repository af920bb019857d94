"""``python -m agents enroll``: swap a one-time code for the machine credential."""

from __future__ import annotations

import socket

from .config import save_credential
from .transport import HTTPClient, TransportError


def enroll(gateway: str, code: str, settings) -> str:
    """Enrol this PC; stores the credential (0600) and returns the machine name."""
    client = HTTPClient(gateway, settings.tls)
    body = client.json("POST", "/api/v1/enroll", json_body={"code": code, "hostname": socket.gethostname()})
    credential = body.get("credential")
    if not isinstance(credential, str) or not credential:
        raise TransportError("the gateway's answer has no credential (is this a Ponte gateway?)")
    save_credential(settings.credential_path, gateway.rstrip("/"), credential)
    machine = body.get("machine")
    return machine.get("name", "?") if isinstance(machine, dict) else "?"
