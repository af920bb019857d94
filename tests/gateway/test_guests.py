"""The guest identity (issue 14): a signed cookie naming a share link and a random guest id,
and guest tickets that carry the guest they are bound to (older tickets still parse)."""

from __future__ import annotations

import json

from itsdangerous import URLSafeTimedSerializer

from gateway import guests
from gateway.live import Ticket
from gateway.terms import SessionTerms


def _with_cookie(app, value: str):
    return app.test_request_context("/share/view", headers={"Cookie": f"{guests.COOKIE}={value}"})


def test_guest_cookie_round_trip_and_forgeries(app):
    with app.test_request_context("/"):
        guest = guests.new_guest(7)
        value = guests.cookie_value(guest)
        assert guest.id == 0 and guest.name == "guest of link 7" and guest.binding == f"7:{guest.guest_id}"
        assert len(guest.guest_id) >= 20
    with _with_cookie(app, value):
        assert guests.current_guest() == guest
    with _with_cookie(app, value[:-3] + ("abc" if not value.endswith("abc") else "xyz")):
        assert guests.current_guest() is None                      # signature broken
    other_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="something-else").dumps({"l": 7, "g": "x"})
    with _with_cookie(app, other_salt):
        assert guests.current_guest() is None                      # another signed thing of ours
    with app.test_request_context("/"):
        bad_shape = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=guests._SALT).dumps({"l": "7", "g": 1})
    with _with_cookie(app, bad_shape):
        assert guests.current_guest() is None
    with _with_cookie(app, "x" * 600):
        assert guests.current_guest() is None


def test_guest_cookie_expires(app, monkeypatch):
    with app.test_request_context("/"):
        value = guests.cookie_value(guests.new_guest(3))
    monkeypatch.setattr(guests, "MAX_AGE", -1)
    with _with_cookie(app, value):
        assert guests.current_guest() is None


def test_tickets_carry_their_guest_and_older_tickets_have_none(app):
    live = app.extensions["ponte.live"]
    token = live.issue_ticket(Ticket("s1", 0, 5, SessionTerms(view_only=True, kind="guest"), "5:abc"), 30)
    ticket = live.consume_ticket(token)
    assert (ticket.guest, ticket.user_id, ticket.terms.kind, ticket.terms.view_only) == ("5:abc", 0, "guest", True)
    plain = live.issue_ticket(Ticket("s2", 4, 5), 30)
    assert "guest" not in json.loads(live.redis.get(live.key("ticket", plain)))
    assert live.consume_ticket(plain).guest == ""
