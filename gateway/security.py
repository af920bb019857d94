"""Secrets: password hashing (argon2) and random tokens stored as SHA-256.

Passwords are low-entropy and get a slow, salted hash. Tokens we generate
ourselves (machine credentials, enrolment codes, tickets, API tokens) carry
at least 128 random bits, so a plain SHA-256 is enough to make a stolen
database useless, and it lets us look them up; comparisons are constant-time.

One argon2 hash costs ~0.2 s of CPU (default cost: 64 MiB, 3 passes, 4
lanes). On the gateway's one gevent loop that would stall every relay of
the node for as long, so in ``serve`` (gevent monkey-patched) hashing runs
in gevent's threadpool: argon2-cffi releases the GIL, and the loop goes on
relaying. At most ``hash_concurrency`` hashes run at once; further logins
wait their turn on a semaphore, so a storm of logins queues instead of
taking every core. The hashing threads also run at a lower CPU priority
(``HASH_NICE``, Linux), so that when logins do saturate the cores the
loop's relaying still gets the CPU first. Elsewhere (CLI, Flask test
client, provisioning) there is no loop to protect and hashing runs inline.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .loop import cooperative

_hasher = PasswordHasher()

#: (hasher, a valid hash it made) to verify against when the user does not exist, so a
#: login for an unknown name costs the same time as one with a wrong password. Made on first
#: use rather than at import: every gateway process and every CLI command paid one argon2
#: hash (~0.3 CPU-s) at start for it, most of them never verifying a password.
_dummy: tuple = (None, "")

#: Niceness of the threads that hash (0 = as the loop, 19 = lowest). Raising
#: a thread's niceness needs no privilege; hashing is the one CPU-heavy job
#: of a node that may wait, relaying is the one that must not.
HASH_NICE = 10
#: Threadpool room kept beside hashing for gevent's other users (DNS lookups).
_POOL_SPARE = 4

_gate = None  # gevent semaphore once configure() ran under gevent


def configure(concurrency: int) -> None:
    """Hash at most ``concurrency`` passwords at once, off the gevent loop (``serve`` only)."""
    global _gate
    if not cooperative():
        _gate = None
        return
    import gevent
    import gevent.lock

    pool = gevent.get_hub().threadpool
    pool.maxsize = max(pool.maxsize, concurrency + _POOL_SPARE)
    _gate = gevent.lock.BoundedSemaphore(concurrency)


def _off_loop(fn, *args):
    gate = _gate
    if gate is None or not cooperative():
        return fn(*args)
    import gevent

    with gate:
        return gevent.get_hub().threadpool.apply(_in_worker, (fn, args))


def _in_worker(fn, args):
    if sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        try:  # per thread on Linux; argon2's own lane threads inherit it
            if os.getpriority(os.PRIO_PROCESS, tid) < HASH_NICE:
                os.setpriority(os.PRIO_PROCESS, tid, HASH_NICE)
        except OSError:
            pass
    return fn(*args)


def hash_password(password: str) -> str:
    return _off_loop(_hasher.hash, password)


def verify_password(stored: str | None, password: str) -> bool:
    return _off_loop(_verify, stored, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        # An empty hash is a person without a password yet (an invitation not redeemed).
        return _hasher.verify(stored or _dummy_hash(), password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    """The dummy hash, made by the hasher in use (again if it was replaced, as tests do)."""
    global _dummy
    hasher, hashed = _dummy
    if hasher is not _hasher:
        hashed = _hasher.hash(secrets.token_urlsafe(16))
        _dummy = (_hasher, hashed)   # one tuple: two threads at worst both make one
    return hashed


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
