"""Secrets: password hashing (argon2) and random tokens stored as SHA-256.

Passwords are low-entropy and get a slow, salted hash. Tokens we generate
ourselves (machine credentials, enrolment codes, tickets, API tokens) carry
at least 128 random bits, so a plain SHA-256 is enough to make a stolen
database useless, and it lets us look them up; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

#: A valid hash to verify against when the user does not exist, so a login
#: for an unknown name costs the same time as one with a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(stored_hash: str | None, token: str) -> bool:
    if not stored_hash:
        return False
    return hmac.compare_digest(stored_hash, hash_token(token))


def new_enrolment_code() -> str:
    """A code a person can type: 20 base32 characters (100 bits) in groups of 5."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(20))
    return "-".join(raw[i:i + 5] for i in range(0, 20, 5))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())
