"""Password policy beyond length: no blank passwords, none of the 10,000 most common.

Why, in plain words: attackers try the most common passwords first, on every
account they can name; a password from that list falls in minutes however long
it is. The list is the one zxcvbn ships (MIT licence, pure Python), its
``passwords`` frequency list ranked by how often each appeared in leaks; we take
its first 10,000 and compare case-insensitively (``Password1`` is ``password1``
to a guesser too).
"""

from __future__ import annotations

from flask_babel import gettext as _
from zxcvbn.frequency_lists import FREQUENCY_LISTS

COMMON_COUNT = 10_000
COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"][:COMMON_COUNT])


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used, in words for the person choosing it; ``None`` if fine."""
    if not password.strip():
        return _("A password cannot be only spaces.")
    if password.strip().lower() in COMMON_PASSWORDS:
        return _("This password is one of the 10,000 most common ones, which attackers try first. "
                 "Choose another.")
    return None
