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
    """Run the block as organisation ``organisation_id``: what it reads and writes is that firm's."""
    token = _current.set(int(organisation_id))
    try:
        yield int(organisation_id)
    finally:
        _current.reset(token)


@contextmanager
def across_organisations() -> Iterator[None]:
    """Run the block over every organisation's rows (the caller audits why)."""
    token = _across.set(True)
    try:
        yield
    finally:
        _across.reset(token)
