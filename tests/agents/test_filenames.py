"""``filenames.safe_name``: what a browser calls a file becomes one safe name on any OS."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.protocol.filenames import DEVICE_NAMES, MAX_NAME_BYTES, numbered, safe_name
from agents.protocol.errors import UnsafeName


@pytest.mark.parametrize("name,safe", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\win.ini", "win.ini"),
    ("/etc/shadow", "shadow"),
    ("C:\\Users\\x\\ntuser.dat", "ntuser.dat"),
    ("C:evil.txt", "evil.txt"),                 # relative to the drive's current folder
    ("\\\\server\\share\\x.doc", "x.doc"),      # UNC
    ("nul", "_nul"), ("NUL.txt", "_NUL.txt"), ("com1.tar.gz", "_com1.tar.gz"), ("LPT9", "_LPT9"),
    ("con .txt", "_con .txt"), ("CONIN$", "_CONIN$"),
    ("console.txt", "console.txt"),             # only the exact device names are reserved
    ("a\x00b\r\n.txt", "a_b__.txt"),
    ("\u202egnp.exe", "_gnp.exe"),              # a bidi override would show "exe.png"
    ('what?<is>:"this"|*.txt', "what__is___this___.txt"),
    ("trailing. . ", "trailing"),               # Windows drops them: "a.txt." would be "a.txt"
    (" padded ", "padded"),
    ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC: the same name whichever way it was typed
    (".bashrc", ".bashrc"),
])
def test_names_are_made_safe(name, safe):
    assert safe_name(name) == safe


@pytest.mark.parametrize("name", ["", ".", "..", "...", "a/..", "dir/", "C:", "C:\\", " ", "\\\\", ". ."])
def test_nothing_usable_is_refused(name):
    with pytest.raises(UnsafeName):
        safe_name(name)


def test_long_names_keep_their_extension_within_255_bytes():
    safe = safe_name("é" * 300 + ".docx")
    assert safe.endswith(".docx") and len(safe.encode()) <= MAX_NAME_BYTES
    assert len(safe_name("x" * 1000).encode()) == MAX_NAME_BYTES


def test_numbered_alternatives():
    assert numbered("report.pdf", 2) == "report (2).pdf"
    assert numbered("README", 3) == "README (3)"
    assert numbered(".bashrc", 2) == ".bashrc (2)"
    assert len(numbered("x" * 255, 12).encode()) <= MAX_NAME_BYTES


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=300) | st.lists(st.sampled_from(["..", "/", "\\", "C:", "nul", "COM1", ".", " ", "a",
                                                          "\x00", "\u202e", ".txt"]), max_size=12).map("".join))
def test_whatever_comes_out_is_one_plain_safe_component(name):
    try:
        safe = safe_name(name)
    except UnsafeName:
        return
    assert "/" not in safe and "\\" not in safe and safe not in (".", "..")
    assert not any(ord(ch) < 32 or ch in '<>:"|?*' for ch in safe)
    assert safe == safe.strip(" ").rstrip(".") and len(safe.encode()) <= MAX_NAME_BYTES
    assert safe.split(".", 1)[0].rstrip(" ").upper() not in DEVICE_NAMES
    assert safe_name(safe) == safe
