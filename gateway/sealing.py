"""Secrets the gateway must read back (TOTP seeds), sealed at rest with a key of the instance.

A hash will not do for a TOTP seed: the gateway computes codes from it. So the seed is encrypted
with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key derived by HKDF-SHA256
from the instance's ``SECRET_KEY``, one ``purpose`` per kind of secret so keys are never shared
between uses. A copy of the database alone no longer yields the seeds; database plus instance
secret still does (that is the point of the instance secret).

Opening fails closed: a token sealed under another key, or altered, raises ``SealError`` and the
caller refuses whatever the secret was for. Rotating ``SECRET_KEY`` therefore turns every
authenticator app off in effect (people then use a recovery code or passkey and set it up again).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import SealError

TOTP_PURPOSE = "ponte totp secret v1"


def _fernet(secret_key: str | bytes, purpose: str) -> Fernet:
    if not secret_key:
        raise SealError("the instance has no SECRET_KEY to seal secrets with")
    raw = secret_key.encode() if isinstance(secret_key, str) else secret_key
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(raw)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plain: str, secret_key: str | bytes, purpose: str = TOTP_PURPOSE) -> str:
    return _fernet(secret_key, purpose).encrypt(plain.encode()).decode("ascii")


def unseal(token: str, secret_key: str | bytes, purpose: str = TOTP_PURPOSE) -> str:
    try:
        return _fernet(secret_key, purpose).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise SealError("a sealed secret does not open under this instance's key") from exc
