"""Policy settings in SQL: read and change the global, a group's and a PC's rules; decide for one person.

``gateway.policy`` holds the rules and how they combine; this module stores
them (``models.PolicyRule``) and answers ``decide(user, machine)``: the
``policy.Decision`` for that person opening that PC now (below the global level,
the gateway's settings for files and recording: ``defaults``). Changes are audited
(``policy_set``) and committed; they apply to sessions and transfers begun afterwards,
and a retention to every recording at the next purge.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select

from .. import policy
from ..errors import AdminError
from ..extensions import db
from ..i18n import zone
from ..models import Group, GroupGrant, Machine, PolicyRule, User, audit, group_members, utcnow

#: The settings an admin may change, as stored (``policy.Rules`` fields).
FIELDS = ("concurrency", "idle_timeout", "max_duration", "hours", "file_transfer", "record", "retention_days")
#: The fields stored as they are (``hours`` is text in the row).
_PLAIN = tuple(name for name in FIELDS if name != "hours")


def _row(target: Group | Machine | None) -> PolicyRule | None:
    stmt = select(PolicyRule)
    if target is None:
        stmt = stmt.where(PolicyRule.scope == "global")
    elif isinstance(target, Group):
        stmt = stmt.where(PolicyRule.scope == "group", PolicyRule.group_id == target.id)
    else:
        stmt = stmt.where(PolicyRule.scope == "machine", PolicyRule.machine_id == target.id)
    return db.session.scalar(stmt)


def rules_of(row: PolicyRule | None) -> policy.Rules:
    """A stored row as ``policy.Rules`` (no row: nothing set)."""
    if row is None:
        return policy.Rules()
    try:
        return policy.Rules(hours=policy.parse_hours(row.hours), **{name: getattr(row, name) for name in _PLAIN})
    except policy.PolicyError:
        # Only ``set_rules`` writes these rows, and it validates: a row that does not read
        # was edited by hand. Ignore it rather than lock everyone out.
        return policy.Rules()


def get_rules(target: Group | Machine | None = None) -> policy.Rules:
    """The rules set at one level: global (``None``), a group, a PC."""
    return rules_of(_row(target))


def target_name(target: Group | Machine | None) -> str:
    if target is None:
        return "global"
    return f"{'group' if isinstance(target, Group) else 'machine'}:{target.name}"


def set_rules(target: Group | Machine | None, changes: dict, *, actor: str = "cli", ip: str = "") -> policy.Rules:
    """Change some settings of one level; a value ``None`` unsets it (the next level decides).

    ``changes`` maps ``FIELDS`` to values: ``concurrency`` and ``file_transfer`` a name, minutes
    and days as whole numbers, ``record`` true or false, ``hours`` as text (``policy.parse_hours``;
    "" any time). ``AdminError`` for anything else.
    """
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise AdminError(f"Unknown policy setting(s): {', '.join(sorted(unknown))}.")
    current = get_rules(target)
    values = {name: getattr(current, name) for name in FIELDS}
    try:
        for name, value in changes.items():
            values[name] = policy.parse_hours(value) if name == "hours" else value
        rules = policy.Rules(**values)
    except policy.PolicyError as exc:
        raise AdminError(str(exc)) from None
    row = _row(target)
    if row is None:
        row = PolicyRule(scope="global" if target is None else "group" if isinstance(target, Group) else "machine",
                         group_id=target.id if isinstance(target, Group) else None,
                         machine_id=target.id if isinstance(target, Machine) else None)
        db.session.add(row)
    for name in _PLAIN:
        setattr(row, name, getattr(rules, name))
    row.hours = None if rules.hours is None else policy.format_hours(rules.hours)
    row.updated_at, row.updated_by = utcnow(), actor[:64]
    audit("policy_set", actor=actor, ip=ip, target=target_name(target), detail=describe(rules)[:512])
    db.session.commit()
    return rules


def describe(rules: policy.Rules) -> str:
    """The rules of one level in one line (the audit's detail, the CLI)."""
    parts = []
    for name in FIELDS:
        value = getattr(rules, name)
        if value is None:
            continue
        if name == "hours":
            value = policy.format_hours(value) or "any time"
        elif name == "record":
            value = "on" if value else "off"
        parts.append(f"{name}={value}")
    return ", ".join(parts) or "nothing set"


def groups_reaching(user: User, machine: Machine) -> list[Group]:
    """The person's groups through which ``machine`` is granted to them."""
    stmt = (select(Group).join(GroupGrant, GroupGrant.group_id == Group.id)
            .join(group_members, group_members.c.group_id == Group.id)
            .where(GroupGrant.machine_id == machine.id, group_members.c.user_id == user.id)
            .order_by(Group.name))
    return list(db.session.scalars(stmt))


def gateway_zone():
    return zone(current_app.config["PONTE"].timezone)


def now() -> datetime:
    """The present, aware (one place, so a test can freeze the clock)."""
    return datetime.now(timezone.utc)


def defaults(settings=None) -> policy.Rules:
    """The gateway's settings as the level below the global policy (files, recording)."""
    settings = settings or current_app.config["PONTE"]
    return policy.Rules(file_transfer=settings.file_transfer, record=bool(settings.recording),
                        retention_days=settings.recording_retention_days)


def decide(user: User | None, machine: Machine, at: datetime | None = None) -> policy.Decision:
    """What applies to ``user`` opening ``machine`` at ``at`` (default: ``now()``).

    ``user`` ``None`` (a guest through a share link, a person since deleted): no group counts."""
    groups = [get_rules(g) for g in groups_reaching(user, machine)] if user is not None else []
    return policy.resolve(get_rules(None), groups, get_rules(machine), at or now(), gateway_zone(), defaults())


def retention_days(machine_id: int | None, user_id: int | None) -> int:
    """Days a recording of ``user_id``'s session on ``machine_id`` is kept (0: forever): that
    PC's policy, the groups through which the person reaches it, the global, the setting.
    A PC or person since deleted counts as none (the global policy and the setting decide)."""
    machine = db.session.get(Machine, machine_id) if machine_id is not None else None
    user = db.session.get(User, user_id) if user_id is not None else None
    if machine is None:
        return policy.resolve(get_rules(None), [], None, now(), defaults=defaults()).retention_days
    return decide(user, machine).retention_days
