"""File names that arrive from a browser, made safe to create on the office PC (sans-IO).

A name comes from the person's browser through the gateway, so it is untrusted:
it may try to climb out of the upload folder (``../``, ``..\\``), name an
absolute path (``/etc/passwd``, ``C:\\Windows``, ``\\\\server\\share``), carry
control or bidi characters, or name a Windows device (``CON``, ``NUL``,
``COM1``, ``LPT1.txt`` — opening one of those on Windows talks to the device,
whatever folder it is in). ``safe_name`` keeps only the last path component
and rewrites what Windows or POSIX cannot hold, so the same name is safe on
every OS the agent runs on; it raises ``UnsafeName`` only when nothing usable
is left. It is a pure function: the agent joins the result to its folder.

Errors: ``UnsafeName`` (``FileTransferError``), drawn in ``errors.py``.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import UnsafeName

#: Bytes of UTF-8 a file name may take (ext4, NTFS and APFS allow 255).
MAX_NAME_BYTES = 255

#: Windows device names: reserved with any extension and any case (``nul.txt`` is the device).
DEVICE_NAMES = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$",
                          *(f"COM{i}" for i in "123456789¹²³"), *(f"LPT{i}" for i in "123456789¹²³")})

#: Characters Windows refuses in names (``/`` and ``\\`` split components and never get here).
_FORBIDDEN = re.compile(r'[<>:"|?*]')
_SEPARATORS = re.compile(r"[/\\]")


def _visible(ch: str) -> bool:
    # Cc: control (NUL, newline, DEL, C1); Cf: format (bidi overrides, zero-width); Cs: lone surrogates.
    return unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")


def safe_name(name: str) -> str:
    """A plain file name to create in the upload folder, derived from ``name``.

    Only the last component of any path survives (``a/../b.txt`` → ``b.txt``,
    ``C:\\x\\y.doc`` → ``y.doc``); control, bidi and characters Windows forbids
    become ``_``; trailing dots and spaces (which Windows drops, so ``a.txt.``
    would be ``a.txt``) are removed; a device name gets a ``_`` prefix
    (``nul.txt`` → ``_nul.txt``); the result is at most ``MAX_NAME_BYTES`` of
    UTF-8, shortened before the extension. ``UnsafeName`` if nothing is left
    (``""``, ``..``, ``/``).
    """
    if not isinstance(name, str):
        raise UnsafeName("a file name must be text")
    name = unicodedata.normalize("NFC", name)
    last = _SEPARATORS.split(name)[-1]
    # A drive prefix without a separator ("C:evil.txt" is relative to C:'s current folder).
    last = re.sub(r"^[A-Za-z]:", "", last)
    cleaned = "".join(ch if _visible(ch) else "_" for ch in last)
    cleaned = _FORBIDDEN.sub("_", cleaned).strip(" ").rstrip(". ")
    if cleaned in ("", ".", "..") or set(cleaned) <= {"."}:
        raise UnsafeName(f"no usable file name in {name[:80]!r}")
    stem = cleaned.split(".", 1)[0].rstrip(" ").upper()
    if stem in DEVICE_NAMES:
        cleaned = "_" + cleaned
    return _shorten(cleaned)


def _shorten(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > 16:
        stem, ext, dot = name, "", ""
    room = MAX_NAME_BYTES - len((dot + ext).encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(". ")
    return (cut or "_") + dot + ext


def numbered(name: str, n: int) -> str:
    """The ``n``-th alternative to an existing ``name``: ``report (2).pdf`` (still safe, still short)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    return _shorten(f"{stem} ({n}){dot}{ext}")
