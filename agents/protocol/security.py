"""Which login the agent uses with a VNC server, and why none fits when none does.

A *method* is a security type (RFC 6143 §7.1.2, rfbproto "Security Types") or
a VeNCrypt subtype (256-262): the two share one number space and one order of
preference. The agent picks the strongest method the server offers that it has
credentials for (``PREFERENCE``): verified TLS, then anonymous TLS, then the
logins that only protect the password (Apple ARD, MS-Logon II, VncAuth), then
no protection at all. VeNCrypt's subtypes are known only after VeNCrypt is
chosen, so VeNCrypt itself is chosen whenever any subtype could fit.

Pure data and functions; ``rfb.ClientHandshake`` does the talking.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .dhauth import aes_available
from .tls import Trust

NONE = 1
VNC_AUTH = 2
RA2 = 5
RA2NE = 6
RA2R = 13
TIGHT = 16
ULTRA = 17
TLS = 18
VENCRYPT = 19
SASL = 20
ARD = 30
MSLOGON2 = 113
RA2_256 = 129
RA2NE_256 = 130
RA2R_256 = 133
PLAIN = 256
TLS_NONE = 257
TLS_VNC = 258
TLS_PLAIN = 259
X509_NONE = 260
X509_VNC = 261
X509_PLAIN = 262

NAMES = {
    0: "Invalid", NONE: "None", VNC_AUTH: "VncAuth", RA2: "RA2", RA2NE: "RA2ne", RA2R: "RA2r", TIGHT: "Tight",
    ULTRA: "Ultra", TLS: "TLS", VENCRYPT: "VeNCrypt", SASL: "SASL", 21: "MD5", 22: "xvp", 23: "Secure Tunnel",
    24: "Integrated SSH", ARD: "Apple ARD", MSLOGON2: "MSLogon II", RA2_256: "RA2_256", RA2NE_256: "RA2ne_256",
    RA2R_256: "RA2r_256",
    PLAIN: "VeNCrypt Plain", TLS_NONE: "VeNCrypt TLSNone", TLS_VNC: "VeNCrypt TLSVnc",
    TLS_PLAIN: "VeNCrypt TLSPlain", X509_NONE: "VeNCrypt X509None", X509_VNC: "VeNCrypt X509Vnc",
    X509_PLAIN: "VeNCrypt X509Plain", 263: "VeNCrypt TLSSASL", 264: "VeNCrypt X509SASL", 265: "VeNCrypt Ident",
    266: "VeNCrypt TLSIdent", 267: "VeNCrypt X509Ident",
}

#: Strongest first. VeNCrypt (19) is not here: it stands for its subtypes. Tight comes
#: last: it wraps None or VncAuth, which are taken directly when offered.
PREFERENCE = (X509_PLAIN, X509_VNC, X509_NONE, TLS_PLAIN, TLS_VNC, TLS_NONE, ARD, MSLOGON2, VNC_AUTH, PLAIN,
              NONE, TIGHT)
VENCRYPT_TLS = frozenset({TLS_NONE, TLS_VNC, TLS_PLAIN})
VENCRYPT_X509 = frozenset({X509_NONE, X509_VNC, X509_PLAIN})
VENCRYPT_SUBTYPES = frozenset({PLAIN}) | VENCRYPT_TLS | VENCRYPT_X509
RSA_AES = frozenset({RA2, RA2NE, RA2R, RA2_256, RA2NE_256, RA2R_256})
NEEDS_PASSWORD = frozenset({VNC_AUTH, TLS_VNC, X509_VNC})
NEEDS_USER = frozenset({PLAIN, TLS_PLAIN, X509_PLAIN, ARD, MSLOGON2})

#: Why a method cannot be used: ``Credentials.lacks()`` values.
LACKS_PASSWORD = "password"
LACKS_USER = "user name"
LACKS_CERTIFICATE = "certificate"
LACKS_CRYPTOGRAPHY = "cryptography"
NOT_ALLOWED = "not allowed"
UNSUPPORTED = "unsupported"


def name(method: int) -> str:
    return NAMES.get(method, str(method))


def label(method: int) -> str:
    """``19 (VeNCrypt)`` style, for lists of what a server offers."""
    known = NAMES.get(method)
    return f"{method} ({known})" if known else str(method)


def dedupe(methods) -> tuple[int, ...]:
    """Offered methods without repeats, in the server's order (some servers repeat one)."""
    return tuple(dict.fromkeys(methods))


@dataclass(frozen=True)
class Credentials:
    """What the agent holds for logging in to the VNC server."""

    password: str | bytes | None = None
    username: str = ""
    trust: Trust = field(default_factory=Trust)
    #: Methods the agent may use (empty: all it supports), e.g. to keep it off one.
    allowed: frozenset[int] = frozenset()

    def lacks(self, method: int) -> str | None:
        """None if ``method`` can be used now, else what is missing (a ``LACKS_*``/… value)."""
        if method == VENCRYPT:
            fits = [self.lacks(sub) for sub in VENCRYPT_SUBTYPES]
            return None if None in fits else (NOT_ALLOWED if self.allowed else UNSUPPORTED)
        if method not in PREFERENCE:
            return UNSUPPORTED
        if self.allowed and method not in self.allowed:
            return NOT_ALLOWED
        if method in VENCRYPT_X509 and not self.trust.configured:
            return LACKS_CERTIFICATE
        if method in NEEDS_USER and not (self.username and self.password):
            return LACKS_USER if not self.username else LACKS_PASSWORD
        if method in NEEDS_PASSWORD and not self.password:
            return LACKS_PASSWORD
        if method == ARD and not aes_available():
            return LACKS_CRYPTOGRAPHY
        return None


def choose(offered, credentials: Credentials, *, skip=frozenset()) -> int | None:
    """The method to use among ``offered`` (VeNCrypt first when it may fit), or None."""
    usable = [m for m in dedupe(offered) if m not in skip and credentials.lacks(m) is None]
    if VENCRYPT in usable:
        return VENCRYPT
    ranked = [m for m in PREFERENCE if m in usable]
    return ranked[0] if ranked else None


# --------------------------------------------------------------------------- why none fits

_FIX = {
    LACKS_CERTIFICATE: "give the agent the server's certificate (vnc_ca_file) or its SHA-256 fingerprint "
                       "(vnc_pin_sha256)",
    LACKS_USER: "set vnc_username to the account it logs in as, and that account's password in "
                "vnc_password_file",
    LACKS_PASSWORD: "put its password in vnc_password_file (or PONTE_AGENT_VNC_PASSWORD)",
    LACKS_CRYPTOGRAPHY: "install the Python package 'cryptography' for the agent "
                        "(python -m pip install cryptography), which that login needs for AES",
    NOT_ALLOWED: "allow it in vnc_security, or clear vnc_security",
}
_REALVNC_FIX = ("in RealVNC Server's Options → Security, set Encryption to \"Prefer off\" and Authentication "
                "to \"VNC password\" (parameters Encryption=PreferOff and Authentication=VncAuth), then give "
                "the agent that password")
_GENERIC_FIX = ("turn on VNC password authentication (VncAuth) or VeNCrypt with TLS in the VNC server's settings")


def vendor(version: tuple[int, int] | None, offered=()) -> str:
    """The server's kind where the handshake shows it for sure, else "The VNC server"."""
    if version == (3, 889):
        return "macOS Screen Sharing"
    if version is not None and version[0] >= 4:
        return "RealVNC Server"
    return "The VNC server"


def _names(methods) -> str:
    methods = list(methods)
    return ", ".join(name(m) for m in methods[:-1]) + (" and " if len(methods) > 1 else "") + name(methods[-1])


def unusable(offered, credentials: Credentials, who: str) -> tuple[str, dict[int, str]]:
    """``(sentence, {method: what it lacks})`` for a server none of whose methods fits.

    The sentence names what the server offers and the one fix that unlocks the strongest
    of them, e.g. "The VNC server offers only VeNCrypt X509Vnc: give the agent the
    server's certificate (vnc_ca_file) or its SHA-256 fingerprint (vnc_pin_sha256)".
    """
    methods = list(dedupe(offered))
    lacking = {m: credentials.lacks(m) for m in methods}
    head = f"{who} offers only {_names(methods)}"
    fixable = [m for m in PREFERENCE if lacking.get(m) in _FIX]
    if fixable:
        best = fixable[0]
        why = lacking[best]
        if len(methods) > 1:
            head += f" ({name(best)} needs "
            head += {LACKS_CERTIFICATE: "the server's certificate", LACKS_USER: "a user name",
                     LACKS_PASSWORD: "a password", LACKS_CRYPTOGRAPHY: "AES from 'cryptography'",
                     NOT_ALLOWED: "to be allowed"}[why] + ")"
        return f"{head}: {_FIX[why]}", lacking
    if set(methods) & RSA_AES and who == "RealVNC Server":
        return (f"RealVNC Server offers only its own encryption ({_names(methods)}), which the agent cannot "
                f"speak: {_REALVNC_FIX}"), lacking
    if set(methods) & RSA_AES:  # RFB 3.8 with RSA-AES: TigerVNC 1.13 or later
        return (f"{head}, which the agent does not speak: add VncAuth or TLSVnc to the server's security "
                "types (TigerVNC: -SecurityTypes TLSVnc,VncAuth)"), lacking
    return f"{head}, which the agent does not support: {_GENERIC_FIX}", lacking
