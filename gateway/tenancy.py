"""Which organisation the code running now acts for (issue 17).

One value per greenlet (``contextvars``; greenlet gives each greenlet its own context): a request
sets it from the signed-in person or the ``/o/<slug>/`` URL, a CLI command or a background job
with ``acting_for``. ``None`` means no organisation is chosen: code that acts across organisations
(the provider's operators, the migrations) says so with ``across_organisations``.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator

#: The single-firm install's organisation (``models.DEFAULT_ORGANISATION``): what the data layer
#: acts for when nothing chose another (``scoping.acting_organisation``).
DEFAULT = 1

#: The organisation whose rows the data layer shows and writes; None: not chosen.
_current: contextvars.ContextVar[int | None] = contextvars.ContextVar("ponte_organisation", default=None)
#: True while code deliberately reads across organisations (an operator's view, upkeep jobs).
_across: contextvars.ContextVar[bool] = contextvars.ContextVar("ponte_across_organisations", default=False)


def current() -> int | None:
    return _current.get()


def is_across() -> bool:
    return _across.get()


@contextmanager
def acting_for(organisation_id: int) -> Iterator[int]:
    """Run the block as organisation ``organisation_id``: what it reads and writes is that firm's
    (also inside ``across_organisations``: the block is scoped again)."""
    token, across = _current.set(int(organisation_id)), _across.set(False)
    try:
        yield int(organisation_id)
    finally:
        _across.reset(across)
        _current.reset(token)


def enter(organisation_id: int | None) -> contextvars.Token:
    """Act for ``organisation_id`` from now on (a request's start); ``leave`` with the token."""
    return _current.set(None if organisation_id is None else int(organisation_id))


def switch(organisation_id: int) -> None:
    """Within a request: act for the organisation of a row found by its secret (a link, a code,
    a credential) for the rest of it; the request's ``leave`` undoes it. Outside a request
    nothing would undo it: there, code uses ``acting_for``, and a switch to another firm raises."""
    from flask import has_request_context

    if has_request_context():
        _current.set(int(organisation_id))
    elif int(organisation_id) != (DEFAULT if current() is None else current()):
        raise RuntimeError("tenancy.switch outside a request: use acting_for")


def leave(token: contextvars.Token) -> None:
    _current.reset(token)


@contextmanager
def across_organisations() -> Iterator[None]:
    """Run the block over every organisation's rows (the caller audits why)."""
    token = _across.set(True)
    try:
        yield
    finally:
        _across.reset(token)
