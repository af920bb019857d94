"""``python -m agents enroll``: swap a one-time code for the machine credential."""

from __future__ import annotations

import socket

from .config import save_credential
from .transport import Session


def enroll(gateway: str, code: str, settings) -> str:
    """Enrol this PC; stores the credential (0600) and returns the machine name."""
    session = Session(gateway, settings.tls)
    body = session.json("POST", "/api/v1/enroll", json_body={"code": code, "hostname": socket.gethostname()})
    credential = body.get("credential")
    if not isinstance(credential, str):
        raise ValueError("the gateway's answer has no credential")
    save_credential(settings.credential_path, gateway.rstrip("/"), credential)
    return body.get("machine", {}).get("name", "?")
