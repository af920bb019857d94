"""The two Diffie-Hellman logins of VNC, as pure functions (rfbproto, "Security Types").

* **Apple ARD** (type 30, macOS Screen Sharing): the server sends a generator, a
  prime and its public value; the shared secret's MD5 is an AES-128 key, and the
  user name and password (64 bytes each: UTF-8, NUL-terminated, random padding)
  go AES-128-ECB encrypted, followed by our public value.
* **UltraVNC MS-Logon II** (type 113): the same idea with 64-bit numbers (weak by
  design: it only keeps the password off the wire in clear); the shared secret
  is the DES key, with VNC's bit-reversed key bytes, in CBC mode with the secret
  itself as IV, over a 256-byte user name and a 64-byte password.

AES is not in Python's standard library; ARD uses the optional ``cryptography``
package (wheels for Windows, macOS and Linux), imported only when ARD is used,
so the agent stays pure Python for every other server. ``aes_available()`` says
whether it can. DES is ``des.py`` (already needed for VncAuth).

The server's numbers are checked before use: a public value of 0, 1 or p-1 (or
outside 1 < y < p-1) would give a known shared secret, and an absurd key size
would make ``pow`` run for minutes.

Errors: ``DHError`` (the message says which parameter) and ``AESUnavailable``
(ARD needs the ``cryptography`` package); drawn in ``errors.py``.
"""

from __future__ import annotations

import hashlib
import secrets

from .des import encrypt_block
from .errors import AESUnavailable, DHError

ARD_MAX_KEY_BYTES = 512  # 4096-bit primes; macOS sends 128 bytes
ARD_MIN_KEY_BYTES = 64   # 512-bit: below that the exchange protects nothing
ARD_FIELD = 64           # user name and password fields, each
MSLOGON_USER = 256
MSLOGON_PASSWORD = 64
_REVERSED_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def aes_available() -> bool:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher  # noqa: F401
    except ImportError:
        return False
    return True


def _aes128_ecb(key: bytes, data: bytes) -> bytes:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError as exc:
        raise AESUnavailable("Apple ARD login needs the Python package 'cryptography' "
                             "(python -m pip install cryptography)") from exc
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _field(text: str, size: int, padding: bytes) -> bytes:
    """UTF-8, cut (between characters) to leave room for the NUL, NUL-terminated, then padding."""
    raw = text.encode("utf-8")[:size - 1].decode("utf-8", "ignore").encode("utf-8")
    return raw + b"\0" + padding[len(raw) + 1:size]


def _exchange(g: int, p: int, y: int, private: int | None) -> tuple[int, int]:
    """``(our public value, shared secret)`` after checking the server's numbers."""
    if p < 7 or p % 2 == 0:
        raise DHError("the VNC server's Diffie-Hellman modulus is not a usable prime")
    if not 1 < g < p - 1:
        raise DHError("the VNC server's Diffie-Hellman generator is out of range")
    if not 1 < y < p - 1:
        raise DHError("the VNC server's Diffie-Hellman public value is out of range")
    x = private if private is not None else secrets.randbelow(p - 3) + 2
    return pow(g, x, p), pow(y, x, p)


def ard_response(generator: int, prime: bytes, server_public: bytes, username: str, password: str, *,
                 private: int | None = None, padding: bytes | None = None) -> bytes:
    """What the client sends for Apple ARD: 128 encrypted bytes, then our public value.

    ``private`` and ``padding`` (128 bytes) are for tests; by default they are random.
    """
    size = len(prime)
    if not ARD_MIN_KEY_BYTES <= size <= ARD_MAX_KEY_BYTES or len(server_public) != size:
        raise DHError(f"the VNC server's Apple ARD key size {size} is outside "
                      f"{ARD_MIN_KEY_BYTES}-{ARD_MAX_KEY_BYTES} bytes")
    ours, shared = _exchange(generator, int.from_bytes(prime, "big"), int.from_bytes(server_public, "big"),
                             private)
    key = hashlib.md5(shared.to_bytes(size, "big")).digest()  # noqa: S324 — the protocol says MD5
    pad = padding if padding is not None else secrets.token_bytes(2 * ARD_FIELD)
    plain = _field(username, ARD_FIELD, pad[:ARD_FIELD]) + _field(password, ARD_FIELD, pad[ARD_FIELD:])
    return _aes128_ecb(key, plain) + ours.to_bytes(size, "big")


def _des_cbc(key: bytes, data: bytes) -> bytes:
    """UltraVNC's vncEncryptBytes2: DES-CBC, the key as IV, VNC's bit-reversed key bytes."""
    des_key = key.translate(_REVERSED_BITS)
    out = bytearray()
    prev = key
    for i in range(0, len(data), 8):
        block = bytes(a ^ b for a, b in zip(data[i:i + 8], prev))
        prev = encrypt_block(des_key, block)
        out += prev
    return bytes(out)


def mslogon2_response(generator: bytes, modulus: bytes, server_public: bytes, username: str, password: str, *,
                      private: int | None = None, padding: bytes | None = None) -> bytes:
    """What the client sends for MS-Logon II: our public value (8), user (256), password (64).

    ``private`` and ``padding`` (320 bytes) are for tests; by default they are random.
    """
    if not len(generator) == len(modulus) == len(server_public) == 8:
        raise DHError("MS-Logon II numbers must be 8 bytes each")
    ours, shared = _exchange(int.from_bytes(generator, "big"), int.from_bytes(modulus, "big"),
                             int.from_bytes(server_public, "big"), private)
    key = shared.to_bytes(8, "big")
    pad = padding if padding is not None else secrets.token_bytes(MSLOGON_USER + MSLOGON_PASSWORD)
    user = _field(username, MSLOGON_USER, pad[:MSLOGON_USER])
    word = _field(password, MSLOGON_PASSWORD, pad[MSLOGON_USER:])
    return ours.to_bytes(8, "big") + _des_cbc(key, user) + _des_cbc(key, word)
