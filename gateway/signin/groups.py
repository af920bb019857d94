"""Company groups (a directory's groups, an ID token's groups claim) → Ponte groups.

The admin lists ``"<company group> => <Ponte group>"`` entries (``ldap_group_map``,
``oidc_group_map``). At each sign-in the person's membership of every Ponte group
named on the right is made to match the company's word; Ponte groups not named
there are the admin's alone and are never touched. A mapped Ponte group that does
not exist yet is created. Keys are compared without case and, for LDAP DNs,
without the blanks around ``,`` and ``=``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .. import ops
from ..models import User, find_group

SEPARATOR = "=>"


def normalise(key: str) -> str:
    """A company group's name or DN as compared: lower case, no blanks around ``,`` and ``=``."""
    return re.sub(r"\s*([,=])\s*", r"\1", key.strip()).lower()


def parse_map(entries: Iterable[str]) -> dict[str, str]:
    """``{normalised company group: Ponte group}`` from ``"a => b"`` entries (bad ones skipped)."""
    mapping: dict[str, str] = {}
    for entry in entries:
        left, sep, right = entry.rpartition(SEPARATOR)
        if sep and left.strip() and right.strip():
            mapping[normalise(left)] = right.strip()
    return mapping


def sync_groups(user: User, company_groups: Iterable[str], mapping: dict[str, str], *, actor: str,
                ip: str = "") -> tuple[list[str], list[str]]:
    """Make ``user``'s mapped Ponte groups match ``company_groups``; returns (added, removed) names.

    Each change is an ordinary audited ``ops`` operation with ``actor`` (``ldap`` or
    ``oidc``); a removal ends the person's live sessions the group gave them.
    """
    wanted = {mapping[key] for key in map(normalise, company_groups) if key in mapping}
    added, removed = [], []
    for name in sorted(set(mapping.values())):
        group = find_group(name)
        if name in wanted:
            if group is None:
                group = ops.add_group(name, actor=actor, ip=ip)
            if ops.add_member(group, user, actor=actor, ip=ip):
                added.append(name)
        elif group is not None and ops.remove_member(group, user, actor=actor, ip=ip):
            removed.append(name)
    return added, removed
