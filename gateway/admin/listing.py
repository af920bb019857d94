"""One page of a long admin list (users, PCs): a search, a sort and a page, all read from the
address, so a list as the admin sees it can be bookmarked, shared or reloaded.

Done in SQL (a ``LIKE`` on the searched columns, ``ORDER BY``, ``LIMIT``/``OFFSET``, and a
``COUNT`` for "41–60 of 512"): the page costs the same with 20 rows or 20,000.

``?q=`` words to find (every word must match one of the columns, case-insensitively),
``?sort=`` one of the list's sort keys, ``?dir=asc|desc``, ``?page=`` from 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import request, url_for
from sqlalchemy import and_, func, or_, select

PER_PAGE = 50
MAX_QUERY = 100   # characters of a search kept
MAX_WORDS = 5


def _like(words: str) -> str:
    """``words`` as a ``LIKE`` pattern that matches them anywhere, ``%`` and ``_`` taken literally."""
    return "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass
class Listing:
    """The list's state from the address, and once ``run``, its page of rows and the counts."""

    endpoint: str
    sorts: dict                  # sort key -> column (or expression) to order by
    default_sort: str
    q: str = ""
    sort: str = ""
    dir: str = "asc"
    page: int = 1
    per_page: int = PER_PAGE
    rows: list = field(default_factory=list)
    total: int = 0

    @classmethod
    def from_request(cls, endpoint: str, sorts: dict, default_sort: str, per_page: int = PER_PAGE) -> Listing:
        args = request.args
        sort = args.get("sort", "") if args.get("sort", "") in sorts else default_sort
        page = args.get("page", "1")
        return cls(endpoint, sorts, default_sort, q=" ".join(args.get("q", "")[:MAX_QUERY].split()),
                   sort=sort, dir="desc" if args.get("dir") == "desc" else "asc",
                   page=int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1, per_page=per_page)

    def run(self, session, stmt, searched: list) -> Listing:
        """Rows of ``stmt`` (a ``select`` of one entity) for this page; ``searched``: the text
        columns ``q`` looks in. A page past the end shows the last one."""
        words = self.q.split()[:MAX_WORDS]
        if words:
            stmt = stmt.where(and_(*(or_(*(func.lower(c).like(_like(w.lower()), escape="\\") for c in searched))
                                     for w in words)))
        self.total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        self.page = min(self.page, self.pages)
        column = self.sorts[self.sort]
        order = column.desc() if self.dir == "desc" else column.asc()
        tie = self.sorts[self.default_sort]   # a stable order when the sorted column has equal values
        stmt = stmt.order_by(order, tie.asc()).limit(self.per_page).offset((self.page - 1) * self.per_page)
        self.rows = list(session.scalars(stmt))
        return self

    # -- what the page shows --

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)

    def url(self, **changes) -> str:
        """This list's address with ``changes`` (``page=None`` drops it); defaults left out."""
        state = {"q": self.q, "sort": self.sort, "dir": self.dir, "page": self.page, **changes}
        if state["sort"] == self.default_sort:
            state.pop("sort")
        if state["dir"] == "asc":
            state.pop("dir")
        return url_for(self.endpoint, **{k: v for k, v in state.items() if v not in ("", None, 1)})

    def sort_url(self, key: str) -> str:
        """Sort by ``key``: ascending first, the other way when it is the sort already; page 1."""
        flip = "desc" if self.sort == key and self.dir == "asc" else "asc"
        return self.url(sort=key, dir=flip, page=None)

    def aria_sort(self, key: str) -> str:
        if self.sort != key:
            return "none"
        return "descending" if self.dir == "desc" else "ascending"
