"""A session's terms travel whole in its one-time ticket, and bad ones fall back safely."""

import json

import pytest

from gateway.live import LiveStore, Ticket
from gateway.terms import SessionTerms


def test_terms_ride_in_the_ticket(redis, prefix):
    store = LiveStore(redis, prefix)
    terms = SessionTerms(view_only=True, idle_timeout=600, max_duration=3600, kind="shadow", record=True)
    token = store.issue_ticket(Ticket("s1", 3, 4, terms), ttl=30)
    assert store.consume_ticket(token) == Ticket("s1", 3, 4, terms)
    assert store.consume_ticket(token) is None  # one-time


def test_a_ticket_without_terms_gets_the_defaults(redis, prefix):
    store = LiveStore(redis, prefix)
    redis.set(f"{prefix}ticket:old", json.dumps({"session": "s2", "user_id": 1, "machine_id": 2}))
    assert store.consume_ticket("old").terms == SessionTerms()


@pytest.mark.parametrize("raw, expected", [
    (None, SessionTerms()),
    ("junk", SessionTerms()),
    ({"view_only": 1, "idle_timeout": -5, "kind": "root", "extra": 1},
     SessionTerms(view_only=True, idle_timeout=0, kind="user")),
    ({"record": 1}, SessionTerms(record=True)),
])
def test_terms_from_json(raw, expected):
    assert SessionTerms.from_json(raw) == expected
