"""Why an agent's VNC server cannot be used, and what the person at the viewer is told.

Shared by the agent (the refusal a viewer gets) and the gateway (the PC's tile),
so both say the same thing. The agent reports the kind in ``AgentInfo.vnc_state``
and its admin sentence — exact cause and fix, with the internal address — in
``vnc_detail``; people who are not admins only ever see ``EMPLOYEE``.
"""

from __future__ import annotations

UNREACHABLE = "unreachable"   # nothing listening, or no answer to the TCP connect
TIMEOUT = "timeout"           # connected, but the handshake did not finish in time
PROTOCOL = "protocol"         # not RFB, or over our limits, or closed mid-handshake
VERSION = "version"           # RFB older than 3.3
SECURITY = "security"         # no offered security type the agent can speak
CREDENTIALS = "credentials"   # a usable type needs a password or user name the agent lacks
CERTIFICATE = "certificate"   # VeNCrypt X509: no trust configured, or the certificate is not trusted
TLS = "tls"                   # the TLS handshake VeNCrypt asked for failed
PASSWORD = "password"         # the server rejected the password (or user name and password)
REFUSED = "refused"           # the server refused us (too many failures, connection limit…)
LOCKED = "locked"             # the agent stopped trying after a wrong password
KINDS = (UNREACHABLE, TIMEOUT, PROTOCOL, VERSION, SECURITY, CREDENTIALS, CERTIFICATE, TLS, PASSWORD, REFUSED,
         LOCKED)

#: What happened and whom to ask, by kind.
EMPLOYEE = {
    UNREACHABLE: "The PC's screen sharing (VNC server) is not running: ask your admin.",
    TIMEOUT: "The PC's screen sharing (VNC server) is not responding: ask your admin.",
    PROTOCOL: "The PC's screen sharing (VNC server) is not responding properly: ask your admin.",
    VERSION: "The PC's screen sharing (VNC server) is too old for Ponte: ask your admin.",
    SECURITY: "Ponte cannot log in to the PC's screen sharing with its current security settings: "
              "ask your admin.",
    CREDENTIALS: "Ponte has no login for the PC's screen sharing yet: ask your admin.",
    CERTIFICATE: "Ponte does not trust the certificate of the PC's screen sharing: ask your admin.",
    TLS: "Ponte could not set up encryption with the PC's screen sharing: ask your admin.",
    PASSWORD: "The PC's VNC password in Ponte is wrong — ask your admin.",
    REFUSED: "The PC's screen sharing is refusing connections for now (after failed logins it blocks them "
             "for a while): ask your admin.",
    LOCKED: "The PC's VNC password in Ponte is wrong — ask your admin.",
}
#: For an agent too old to say which.
UNKNOWN = "The PC's screen sharing (VNC server) is not usable right now: ask your admin."


def employee(kind: str) -> str:
    return EMPLOYEE.get(kind, UNKNOWN)
