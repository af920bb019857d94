"""Tests for agents.protocol.des: known answers and a cross-check with OpenSSL."""

import warnings

import pytest
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.protocol.des import encrypt_block

with warnings.catch_warnings():
    # TripleDES moved to "decrepit" and is deprecated at its old home.
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES


def reference_des(key: bytes, block: bytes) -> bytes:
    """Single DES via OpenSSL: three-key 3DES with K1 = K2 = K3 is DES."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


@pytest.mark.parametrize(
    "key, plaintext, ciphertext",
    [
        ("133457799BBCDFF1", "0123456789ABCDEF", "85E813540F0AB405"),  # Grabbe's worked example
        ("0E329232EA6D0D73", "8787878787878787", "0000000000000000"),
        ("0123456789ABCDEF", "4E6F772069732074", "3FA40E8A984D4815"),  # "Now is t"
        ("0000000000000000", "0000000000000000", "8CA64DE9C1B123A7"),
        ("FFFFFFFFFFFFFFFF", "FFFFFFFFFFFFFFFF", "7359B2163E4EDC58"),
        ("3000000000000000", "1000000000000001", "958E6E627A05557B"),
    ],
)
def test_known_answers(key, plaintext, ciphertext):
    assert encrypt_block(bytes.fromhex(key), bytes.fromhex(plaintext)) == bytes.fromhex(ciphertext)


def test_parity_bits_are_ignored():
    key = bytes.fromhex("133457799BBCDFF1")
    flipped = bytes(b ^ 1 for b in key)
    block = bytes(range(8))
    assert encrypt_block(key, block) == encrypt_block(flipped, block)


@pytest.mark.parametrize("key, block", [(b"k" * 7, b"b" * 8), (b"k" * 8, b"b" * 9), (b"", b"")])
def test_rejects_wrong_sizes(key, block):
    with pytest.raises(ValueError):
        encrypt_block(key, block)


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=8, max_size=8), block=st.binary(min_size=8, max_size=8))
def test_matches_openssl(key, block):
    assert encrypt_block(key, block) == reference_des(key, block)
