"""``python -m gateway policy show|set``: the policy of a level (global, a group, a PC) from the CLI.

Registered on ``gateway.cli``'s ``main`` group when ``cli`` imports this module.
"""

from __future__ import annotations

import click

from . import ops, policy
from .cli import in_app, main
from .ops import policy as policy_ops


def _target(group, machine):
    if group and machine:
        raise click.UsageError("name a group or a machine, not both")
    if group:
        return ops.get_group(group)
    return ops.get_machine(machine) if machine else None


@main.group("policy")
def policy_group():
    """Who may be on a PC, for how long, when: globally, per group, per PC."""


@policy_group.command("show")
@click.option("--group", default=None, help="A group's settings.")
@click.option("--machine", default=None, help="A PC's settings.")
@click.option("--for", "for_user", default=None, help="With --machine: what applies to this person there now.")
@in_app
def policy_show(group, machine, for_user):
    """What is set at one level (default: the global one); not set: the next level decides."""
    target = _target(group, machine)
    click.echo(f"{policy_ops.target_name(target)}: {policy_ops.describe(policy_ops.get_rules(target))}")
    if for_user:
        if machine is None:
            raise click.UsageError("--for needs --machine")
        d = policy_ops.decide(ops.get_user(for_user), target)
        click.echo(f"for {for_user} now: concurrency={d.concurrency}, idle_timeout={d.idle_timeout}, "
                   f"max_duration={d.max_duration}, hours={policy.format_hours(d.hours) or 'any time'}, "
                   f"{'allowed now' if d.allowed_now else 'outside hours now'}, file_transfer={d.file_transfer}, "
                   f"record={'on' if d.record else 'off'}, retention_days={d.retention_days}")


@policy_group.command("set")
@click.option("--group", default=None, help="Set a group's policy.")
@click.option("--machine", default=None, help="Set a PC's policy.")
@click.option("--concurrency", type=click.Choice(policy.CONCURRENCY), default=None)
@click.option("--idle-timeout", type=int, default=None, help="Minutes without input before a session ends (0: off).")
@click.option("--max-duration", type=int, default=None, help="Minutes a session may last (0: off).")
@click.option("--hours", default=None, help="When the PC may be opened, e.g. 'Mon-Fri 08:00-19:00' ('' any time).")
@click.option("--file-transfer", type=click.Choice(policy.FILE_TRANSFER), default=None,
              help="Which way files may go: both, upload (to the PC only), download (from it only), none.")
@click.option("--record", type=click.Choice(("on", "off")), default=None, help="Record the screen of sessions.")
@click.option("--retention-days", type=int, default=None, help="Days a recording is kept (0: for ever).")
@click.option("--unset", multiple=True, type=click.Choice(policy_ops.FIELDS),
              help="Leave a setting to the next level (repeatable).")
@in_app
def policy_set(group, machine, concurrency, idle_timeout, max_duration, hours, file_transfer, record,
               retention_days, unset):
    """Change settings of the global policy, a group's (--group) or a PC's (--machine)."""
    target = _target(group, machine)
    given = (("concurrency", concurrency), ("idle_timeout", idle_timeout), ("max_duration", max_duration),
             ("hours", hours), ("file_transfer", file_transfer),
             ("record", None if record is None else record == "on"), ("retention_days", retention_days))
    changes = {name: value for name, value in given if value is not None}
    changes.update({name: None for name in unset})
    if not changes:
        raise click.UsageError("nothing to change: give --concurrency, --idle-timeout, --max-duration, --hours, "
                               "--file-transfer, --record, --retention-days or --unset")
    rules = policy_ops.set_rules(target, changes, actor="cli")
    click.echo(f"{policy_ops.target_name(target)}: {policy_ops.describe(rules)}")
