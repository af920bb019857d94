"""When the idle timeout and the maximum duration end a session, and when their warnings are on."""

from __future__ import annotations

import math

import pytest

from gateway import end_reasons
from gateway.sessionclock import SessionClock, Verdict, end_reasons as term_reasons
from gateway.terms import SessionTerms

WALL = 1_800_000_000.0  # the wall clock at monotonic 0, so deadlines read plainly


def clock(**terms) -> SessionClock:
    return SessionClock(SessionTerms(**terms), 0.0, wall=lambda: WALL + now[0])


now = [0.0]


@pytest.fixture(autouse=True)
def _reset():
    now[0] = 0.0


def at(c: SessionClock, t: float) -> Verdict:
    now[0] = t
    return c.check(t)


def test_no_limits_no_checks():
    c = clock()
    assert not SessionClock.needed(SessionTerms(view_only=True))
    assert c.next_check(0) == math.inf and at(c, 1e6) == Verdict()


def test_an_idle_session_is_warned_for_the_last_minute_then_ended():
    c = clock(idle_timeout=600)
    assert c.next_check(0) == 540  # nothing to look at before the warning
    assert at(c, 539) == Verdict()
    assert at(c, 540) == Verdict(notices={"idle_ends_at": str(round(WALL + 600))})
    assert at(c, 541) == Verdict()  # the same deadline is not written again
    assert c.next_check(541) == 542  # during a warning: look every second, input may withdraw it
    c.input(550)
    assert at(c, 551) == Verdict(notices={"idle_ends_at": ""})
    assert c.next_check(551) == 1090
    assert at(c, 1150) == Verdict(end="idle")


def test_a_short_idle_timeout_is_warned_for_its_last_fifth():
    c = clock(idle_timeout=3)
    assert c.next_check(0) == pytest.approx(2.4)
    assert at(c, 2.5).notices == {"idle_ends_at": str(round(WALL + 3))}
    assert at(c, 3).end == "idle"


def test_the_maximum_duration_is_warned_five_minutes_before_and_input_does_not_extend_it():
    c = clock(max_duration=3600, idle_timeout=1800)
    assert c.next_check(0) == 1740  # the idle warning comes first
    c.input(3000)
    assert at(c, 3300).notices == {"ends_at": str(round(WALL + 3600))}
    c.input(3500)
    assert at(c, 3599.5) == Verdict()
    assert at(c, 3600).end == "max_duration"


def test_the_end_reasons_are_stored_in_english_and_shown_in_the_readers_language(app):
    # Stored the same whoever's request ended it (issue 13): the history translates when it shows.
    for headers in ({"Accept-Language": "it"}, {}):
        with app.test_request_context(headers=headers):
            assert term_reasons(SessionTerms(idle_timeout=1800))["idle"] == "Ended after 30 minutes without input"
            assert term_reasons(SessionTerms(idle_timeout=60))["idle"] == "Ended after 1 minute without input"
            assert term_reasons(SessionTerms(idle_timeout=3))["idle"] == "Ended after 3 seconds without input"
            assert term_reasons(SessionTerms())["max_duration"] == "Maximum session length reached"
    with app.test_request_context(headers={"Accept-Language": "it"}):
        shown = {k: end_reasons.shown(v) for k, v in term_reasons(SessionTerms(idle_timeout=1800)).items()}
        assert shown == {"idle": "Chiusa dopo 30 minuti senza input",
                         "max_duration": "Raggiunta la durata massima della sessione"}
        assert end_reasons.shown(term_reasons(SessionTerms(idle_timeout=3))["idle"]) == "Chiusa dopo 3 secondi senza input"
        assert end_reasons.shown(term_reasons(SessionTerms(idle_timeout=60))["idle"]) == "Chiusa dopo 1 minuto senza input"
    with app.test_request_context():
        assert end_reasons.shown("Ended after 1 minute without input") == "Ended after 1 minute without input"
