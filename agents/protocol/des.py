"""Single-block DES encryption, only for VNC authentication and MS-Logon II.

RFB's "VNC Authentication" (RFC 6143 §7.2.2) is protocol-mandated to answer
the server's 16-byte challenge with DES-ECB under the (bit-reversed) password.
DES has been broken for decades; this module exists only because that legacy
handshake (and UltraVNC's MS-Logon II, see dhauth.py) requires it and the
agent must install with pure-Python dependencies. Do not use it for anything
else.

Straight from FIPS 46-3: the tables below are the standard ones, 1-based bit
positions counted from the most significant bit. Only encryption is provided.
"""

from __future__ import annotations

__all__ = ["encrypt_block"]

# Initial permutation; the final permutation is its inverse.
_IP = (
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
)
_FP = tuple(_IP.index(i) + 1 for i in range(1, 65))

# Expansion E (32 -> 48 bits) and permutation P of the round function.
_E = (
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11,
    12, 13, 12, 13, 14, 15, 16, 17, 16, 17, 18, 19, 20, 21, 20, 21,
    22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
)
_P = (
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
)

# Key schedule: permuted choices 1 (64 -> 56 bits) and 2 (56 -> 48 bits).
_PC1 = (
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
    10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
    63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
)
_PC2 = (
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
    23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
    44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
)
_SHIFTS = (1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1)

# S-boxes S1..S8, one hex digit per entry, four rows of 16 as printed in FIPS 46-3.
_SBOXES = tuple(
    tuple(int(digit, 16) for digit in "".join(rows))
    for rows in (
        ("E4D12FB83A6C5907", "0F74E2D1A6CB9538", "41E8D62BFC973A50", "FC8249175B3EA06D"),
        ("F18E6B34972DC05A", "3D47F28EC01A69B5", "0E7BA4D158C6932F", "D8A13F42B67C05E9"),
        ("A09E63F51DC7B428", "D709346A285ECBF1", "D6498F30B12C5AE7", "1AD069874FE3B52C"),
        ("7DE3069A1285BC4F", "D8B56F03472C1AE9", "A690CB7DF13E5284", "3F06A1D8945BC72E"),
        ("2C417AB6853FD0E9", "EB2C47D150FA3986", "421BAD78F9C5630E", "B8C71E2D6F09A453"),
        ("C1AF92680D34E75B", "AF427C9561DE0B38", "9EF528C3704A1DB6", "432C95FABE17608D"),
        ("4B2EF08D3C975A61", "D0B7491AE35C2F86", "14BDC37EAF680592", "6BD814A7950FE23C"),
        ("D2846FB1A93E50C7", "1FD8A374C56B0E92", "7B419CE206ADF358", "21E74A8DFC90356B"),
    )
)


def _permute(value: int, table: tuple[int, ...], width: int) -> int:
    out = 0
    for position in table:
        out = (out << 1) | ((value >> (width - position)) & 1)
    return out


def _subkeys(key: int) -> list[int]:
    cd = _permute(key, _PC1, 64)
    c, d = cd >> 28, cd & 0xFFFFFFF
    keys = []
    for shift in _SHIFTS:
        c = ((c << shift) | (c >> (28 - shift))) & 0xFFFFFFF
        d = ((d << shift) | (d >> (28 - shift))) & 0xFFFFFFF
        keys.append(_permute((c << 28) | d, _PC2, 56))
    return keys


def _feistel(half: int, subkey: int) -> int:
    x = _permute(half, _E, 32) ^ subkey
    out = 0
    for i, box in enumerate(_SBOXES):
        six = (x >> (42 - 6 * i)) & 0x3F
        row = ((six >> 4) & 2) | (six & 1)  # outer bits pick the row
        out = (out << 4) | box[row * 16 + ((six >> 1) & 0xF)]
    return _permute(out, _P, 32)


def encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypt one 8-byte ``block`` with DES under the 8-byte ``key`` (ECB).

    Parity bits of the key are ignored, as in every DES implementation.
    """
    if len(key) != 8 or len(block) != 8:
        raise ValueError("DES needs an 8-byte key and an 8-byte block")
    value = _permute(int.from_bytes(block, "big"), _IP, 64)
    left, right = value >> 32, value & 0xFFFFFFFF
    for subkey in _subkeys(int.from_bytes(key, "big")):
        left, right = right, left ^ _feistel(right, subkey)
    # The last round's halves are not swapped back, hence (right, left).
    return _permute((right << 32) | left, _FP, 64).to_bytes(8, "big")
