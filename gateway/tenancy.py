"""Which organisation the code running now acts for (issue 17).

A request keeps it in ``flask.g``, chosen at its start from the signed-in person or the
``/o/<slug>/`` URL (``orgcontext``); a CLI command or a job sets it with ``acting_for``, one value
per greenlet (``contextvars``; greenlet gives each greenlet its own context), which wins inside
its block. ``None`` means no organisation is chosen: code that acts across organisations
(the provider's operators, the migrations) says so with ``across_organisations``.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator

from flask import g, has_request_context

#: The single-firm install's organisation (``models.DEFAULT_ORGANISATION``): what the data layer
#: acts for when nothing chose another (``scoping.acting_organisation``).
DEFAULT = 1

#: The organisation whose rows the data layer shows and writes; None: not chosen.
_current: contextvars.ContextVar[int | None] = contextvars.ContextVar("ponte_organisation", default=None)
#: True while code deliberately reads across organisations (an operator's view, upkeep jobs).
_across: contextvars.ContextVar[bool] = contextvars.ContextVar("ponte_across_organisations", default=False)


#: Where a request keeps the organisation it acts for (``flask.g``): it dies with the request,
#: even one whose streamed response is never closed (a contextvar set then would outlive it).
REQUEST_KEY = "ponte_organisation"


def current() -> int | None:
    """The organisation of the innermost ``acting_for`` block, else the request's, else None."""
    value = _current.get()
    if value is None and has_request_context():
        value = g.get(REQUEST_KEY)
    return value


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


def switch(organisation_id: int) -> None:
    """Within a request: act for ``organisation_id`` for the rest of it (its start chooses one,
    ``orgcontext``; a row found by its secret — a link, a code, a credential — may change it).
    Outside a request code uses ``acting_for``; a switch to another firm there raises."""
    if has_request_context():
        setattr(g, REQUEST_KEY, int(organisation_id))
    elif int(organisation_id) != (DEFAULT if current() is None else current()):
        raise RuntimeError("tenancy.switch outside a request: use acting_for")


@contextmanager
def across_organisations() -> Iterator[None]:
    """Run the block over every organisation's rows (the caller audits why)."""
    token = _across.set(True)
    try:
        yield
    finally:
        _across.reset(token)
