"""Bulk import of people from CSV: ``name, display name, email, groups, PCs``.

Groups and PCs are ``;``-separated names. ``plan`` reads the file and checks every
row against the database without changing anything (the dry-run preview): each row
is either a new person to add, or rejected with its line number and why. ``apply``
makes the accepted rows: the person (no password), their groups (created when
missing), grants of existing PCs, and a one-time invitation link each.
"""

from __future__ import annotations

from flask_babel import gettext as _

import csv
import io
from dataclasses import dataclass, field

from .. import ops
from ..ops.naming import check_name
from ..models import find_group, find_machine, find_user
from . import invitations
from .accounts import add_invited_user
from ..errors import ImportRefused

COLUMNS = ("name", "display name", "email", "groups", "pcs")
MAX_ROWS = 5000


@dataclass(frozen=True)
class Row:
    line: int
    name: str
    display_name: str
    email: str
    groups: tuple[str, ...]
    machines: tuple[str, ...]


@dataclass
class Plan:
    accepted: list[Row] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)   # (line, why)
    new_groups: set[str] = field(default_factory=set)


def _names(cell: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in (cell or "").split(";") if p.strip()))


def plan(text: str) -> Plan:
    """Check every row; change nothing. ``ImportRefused`` when the file is not such a CSV at all."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise ImportRefused(_("The file is empty or not CSV.")) from exc
    if tuple(header[:len(COLUMNS)]) != COLUMNS:
        raise ImportRefused(_("The first line must be the columns: %(columns)s.", columns=", ".join(COLUMNS)))
    result, seen = Plan(), set()
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if number > MAX_ROWS + 1:
                raise ImportRefused(_("At most %(num)d people per file.", num=MAX_ROWS))
            cells = (cells + [""] * len(COLUMNS))[:len(COLUMNS)]
            row = Row(number, cells[0].strip(), cells[1].strip(), cells[2].strip(), _names(cells[3]),
                      _names(cells[4]))
            why = _problem(row, seen)
            if why:
                result.rejected.append((number, why))
                continue
            seen.add(row.name)
            result.accepted.append(row)
            result.new_groups.update(g for g in row.groups if find_group(g) is None)
    except csv.Error as exc:
        raise ImportRefused(_("Line %(line)d: not valid CSV (%(why)s).", line=reader.line_num, why=exc)) from exc
    return result


def _problem(row: Row, seen: set[str]) -> str:
    if row.name in seen:
        return _("%(name)s appears twice in the file", name=row.name)
    if find_user(row.name) is not None:
        return _("user %(name)s exists already", name=row.name)
    try:
        check_name(row.name, "A user name")
        for group in row.groups:
            check_name(group, "A group name")
    except ops.AdminError as exc:
        return str(exc)
    if row.email and ("@" not in row.email or any(c.isspace() for c in row.email) or len(row.email) > 255):
        return _("%(email)s is not an email address", email=repr(row.email))
    if len(row.display_name) > 128:
        return _("the display name is longer than 128 characters")
    missing = [m for m in row.machines if find_machine(m) is None]
    if missing:
        return _("no PC named %(names)s", names=", ".join(missing))
    return ""


def apply(result: Plan, *, actor: str = "cli", ip: str = "") -> list[tuple[str, str]]:
    """Create the accepted rows; returns ``(name, invitation token)`` for each."""
    made = []
    for row in result.accepted:
        user = add_invited_user(row.name, email=row.email, display_name=row.display_name, actor=actor, ip=ip)
        for name in row.groups:
            group = find_group(name) or ops.add_group(name, actor=actor, ip=ip)
            ops.add_member(group, user, actor=actor, ip=ip)
        for name in row.machines:
            ops.grant(user, ops.get_machine(name), actor=actor, ip=ip)
        made.append((user.name, invitations.issue(user, invitations.INVITE, actor=actor, ip=ip)))
    return made
