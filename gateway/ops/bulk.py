"""Many grants, or many group members, in one step (the users and PCs lists, ``POST
/api/v1/grants/bulk``): the single operations' rows, one audit row each, one commit.

One commit so a bulk change is whole or not at all, and costs one transaction, not one per
person; access taken away ends the affected live sessions once per PC, after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from ..errors import AdminError
from ..extensions import db
from ..models import Group, Machine, User, audit
from .machines import add_grant, drop_grant
from .sessions import end_sessions_without_access

#: The most holder × PC pairs one bulk change may touch: a page of 500 people on 20 PCs.
MAX_PAIRS = 10_000


@dataclass(frozen=True)
class BulkResult:
    """``changed``: grants (or memberships) made or removed; ``unchanged``: already so."""

    changed: int
    unchanged: int


def _check_size(holders: int, machines: int) -> None:
    if not holders or not machines:
        raise AdminError(_("Choose at least one person or group and one PC."))
    if holders * machines > MAX_PAIRS:
        raise AdminError(_("At most %(max)s grants in one step.", max=MAX_PAIRS))


def bulk_grant(holders: list[User | Group], machines: list[Machine], *, actor: str = "cli",
               ip: str = "") -> BulkResult:
    """Let every holder open every machine."""
    _check_size(len(holders), len(machines))
    changed = sum(add_grant(h, m, actor=actor, ip=ip) for h in _unique(holders) for m in _unique(machines))
    db.session.commit()
    return BulkResult(changed, len(_unique(holders)) * len(_unique(machines)) - changed)


def bulk_ungrant(holders: list[User | Group], machines: list[Machine], *, actor: str = "cli",
                 ip: str = "") -> BulkResult:
    """Take every holder's grant of every machine away; their sessions there end."""
    _check_size(len(holders), len(machines))
    dropped = [(m.id, drop_grant(h, m, actor=actor, ip=ip)) for h in _unique(holders) for m in _unique(machines)]
    db.session.commit()
    # Per PC, not per pair: one look at the live sessions checks everyone on it.
    for machine_id in sorted({mid for mid, affected in dropped if affected is not None}):
        end_sessions_without_access(machine_id=machine_id)
    changed = sum(affected is not None for _mid, affected in dropped)
    return BulkResult(changed, len(dropped) - changed)


def bulk_add_members(group: Group, users: list[User], *, actor: str = "cli", ip: str = "") -> BulkResult:
    """Put every one of ``users`` in ``group``."""
    _check_size(len(users), 1)
    changed = 0
    members = set(group.members)
    for user in _unique(users):
        if user in members:
            continue
        group.members.append(user)
        members.add(user)
        audit("group_member_add", actor=actor, ip=ip, target=f"{user.name} → {group.name}")
        changed += 1
    db.session.commit()
    return BulkResult(changed, len(_unique(users)) - changed)


def _unique(records: list) -> list:
    """``records`` without repeats, in their order (the same person ticked twice counts once)."""
    return list(dict.fromkeys(records))
