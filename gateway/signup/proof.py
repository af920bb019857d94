"""A proof-of-work the sign-up page's script solves instead of a CAPTCHA (hashcash on SHA-256).

The server hands out a challenge, signed with the app's secret and dated (itsdangerous), so it
keeps no state until an answer comes back. The page's script finds a ``proof`` such that
``SHA-256(challenge ":" proof)`` starts with ``bits`` zero bits: 2^bits hashes on average for
the browser, one hash for the server. A challenge is good for ``TTL`` seconds and once: its
first use is written to Redis (SET NX, expiring with the challenge), a replay is refused.
"""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

#: Seconds a challenge may be answered in (a form filled in slowly gets a new one).
TTL = 15 * 60
PROOF_MAX = 32
SALT = "ponte-signup-proof"

OK, EXPIRED, BAD, REPLAYED = "ok", "expired", "bad", "replayed"


def _signer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def issue(secret: str, bits: int) -> str:
    """A new signed challenge asking for ``bits`` zero bits."""
    return _signer(secret).dumps({"n": secrets.token_urlsafe(12), "b": int(bits)})


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solves(challenge: str, proof: str, bits: int) -> bool:
    digest = hashlib.sha256(f"{challenge}:{proof}".encode()).digest()
    return leading_zero_bits(digest) >= bits


def solve(challenge: str, bits: int) -> str:
    """What the page's script does (novnc_static/signup.js), for the bench and tests."""
    n = 0
    while not solves(challenge, str(n), bits):
        n += 1
    return str(n)


def check(secret: str, challenge: str, proof: str, *, bits: int, redis, prefix: str) -> str:
    """``OK``, or why not: ``EXPIRED`` (too old: a new one is due), ``BAD`` (forged, or not solved,
    or asked for fewer bits than now required), ``REPLAYED`` (answered before)."""
    if not challenge or not proof or len(challenge) > 256 or len(proof) > PROOF_MAX or not proof.isascii():
        return BAD
    try:
        data = _signer(secret).loads(challenge, max_age=TTL)
    except SignatureExpired:
        return EXPIRED
    except BadSignature:
        return BAD
    if not isinstance(data, dict) or data.get("b") != bits or not solves(challenge, proof, bits):
        return BAD
    if not redis.set(f"{prefix}signup-proof:{data['n']}", 1, nx=True, ex=TTL + 60):
        return REPLAYED
    return OK
