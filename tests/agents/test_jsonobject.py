"""The bounded JSON-object reader every JSON protocol decoder starts with."""

import pytest

from agents.protocol.jsonobject import load_object


class Bad(Exception):
    pass


@pytest.mark.parametrize("message, words", [
    ("{}", "is not bytes"),              # text only where the caller allows it
    (b"x" * 65, "larger than 64 bytes"),
    (b"{", "is not JSON"),
    (b"\xff\xfe", "is not JSON"),
    (b"[" * 60, "is not JSON"),            # unbalanced nesting
    (b"[]", "is not an object"),
    (b"3", "is not an object"),
    (b"null", "is not an object"),
    (None, "is not bytes"),
])
def test_refused_with_the_callers_error_and_words(message, words):
    with pytest.raises(Bad, match=f"^test message {words}"):
        load_object(message, limit=64, error=Bad, what="test message")


def test_deep_nesting_within_the_limit_is_the_callers_error_not_a_crash():
    with pytest.raises(Bad, match="is not JSON"):
        load_object(b"[" * 100_000, limit=200_000, error=Bad, what="m")


def test_an_object_comes_back():
    assert load_object(b'{"type": "hello", "n": 1}', limit=64, error=Bad, what="m") == {"type": "hello", "n": 1}
    assert load_object(bytearray(b"{}"), limit=2, error=Bad, what="m") == {}
    assert load_object('{"cmd": "end"}', limit=64, error=Bad, what="m", text=True) == {"cmd": "end"}
