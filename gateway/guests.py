"""A guest's identity: who opened a share link in this browser, never a Flask-Login user.

A guest who presses "Open" on a share link's page gets the cookie
``ponte_guest``: ``{"l": <link id>, "g": <random guest id>, "o": <its organisation>}`` signed with the
instance secret (itsdangerous, its own salt), HttpOnly, SameSite=Strict. It
lets that browser ask for viewer tickets of that link's PC and nothing else:
Flask-Login never reads it, so every other route sees an anonymous visitor.
The cookie alone is not enough either: the link is read again at every
ticket and at the viewer's socket, so a revoked or expired link stops it.

``Guest`` stands where a ``User`` stands in a session (``sessions.issue``,
``pairing.Viewing``): id 0 (no account has it), a name that says which link
it came through, and the link's id for the live record.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .security import new_token

COOKIE = "ponte_guest"
_SALT = "ponte.guest-session"
#: Longest a guest cookie is honoured, whatever its link says (the longest link lasts 8 h).
MAX_AGE = 9 * 3600
#: Guest tickets are told apart from people's by this prefix, before anything is consumed.
TICKET_PREFIX = "guest."


@dataclass(frozen=True)
class Guest:
    link_id: int
    guest_id: str
    name: str
    id: int = 0            # never a user's id (they start at 1)
    is_admin: bool = False
    disabled: bool = False

    @property
    def binding(self) -> str:
        """What a guest's ticket carries: the ticket is good only with this guest's cookie."""
        return f"{self.link_id}:{self.guest_id}"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def new_guest(link_id: int) -> Guest:
    from .ops.shares import guest_name

    return Guest(link_id, new_token(16), guest_name(link_id))


def cookie_value(guest: Guest) -> str:
    """Signed; ``o`` is the link's organisation (the request that opened the link acts for it)."""
    from .scoping import acting_organisation

    return _serializer().dumps({"l": guest.link_id, "g": guest.guest_id, "o": acting_organisation()})


def set_cookie(resp, guest: Guest, max_age: int) -> None:
    resp.set_cookie(COOKIE, cookie_value(guest), max_age=max(1, min(MAX_AGE, int(max_age))), httponly=True,
                    secure=current_app.config["PONTE"].cookies_secure, samesite="Strict", path="/")


def current_guest() -> Guest | None:
    """The guest this request's cookie names (signature and age checked), or ``None``."""
    raw = request.cookies.get(COOKIE, "")
    if not raw or len(raw) > 512:
        return None
    try:
        data = _serializer().loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("l"), int) or not isinstance(data.get("g"), str):
        return None
    from . import tenancy
    from .ops.shares import guest_name

    org = data.get("o", tenancy.DEFAULT)   # cookies from before organisations: the default firm's
    if not isinstance(org, int) or isinstance(org, bool):
        return None
    tenancy.switch(org)   # the guest's requests act for the link's firm (issue 17)
    return Guest(data["l"], data["g"][:64], guest_name(data["l"]))
