"""``python -m gateway org list|add|set-limits``: the provider's firms (issue 17), across them.

Registered on ``gateway.cli``'s ``main`` group when ``cli`` imports this module.
"""

from __future__ import annotations

import click

from . import tenancy
from .cli import in_app, main
from .extensions import db
from .models import Organisation
from .ops.org_limits import set_limits, usage
from .ops.organisations import create_organisation, get_organisation


def _limit(value: str) -> int | None:
    """A limit as typed: a number, or "none"."""
    if value.strip().lower() in ("", "none", "-"):
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: a number, or none") from None


@main.group("org")
def org_group():
    """The firms this Ponte serves (the provider's view, across organisations)."""


@org_group.command("list")
@in_app
def org_list():
    """Each firm: id, address, name, limits, people, PCs, sessions, hours and bytes of history."""
    figures = usage()
    with tenancy.across_organisations():
        for org in db.session.scalars(db.select(Organisation).order_by(Organisation.id)):
            u = figures.get(org.id)
            limits = f"pcs≤{org.max_pcs if org.max_pcs is not None else '∞'} " \
                     f"sessions≤{org.max_sessions if org.max_sessions is not None else '∞'}"
            click.echo(f"{org.id}\t{org.slug}\t{org.name}\t{limits}\t{u.people} people\t{u.pcs} PCs\t"
                       f"{u.sessions} sessions\t{u.hours:.2f} h\t{u.bytes} bytes"
                       + ("\tdisabled" if org.disabled else ""))


@org_group.command("add")
@click.argument("name")
@click.option("--slug", default=None, help="Its address, /o/<slug>/ (default: made from the name).")
@click.option("--language", default="it", show_default=True)
@click.option("--max-pcs", default="none", help="Most PCs it may have (none: no limit).")
@click.option("--max-sessions", default="none", help="Most sessions at once (none: no limit).")
@in_app
def org_add(name, slug, language, max_pcs, max_sessions):
    """A new firm; its people and PCs are then added with ``--organisation <slug>``."""
    with tenancy.across_organisations():
        org = create_organisation(name, slug=slug, language=language, max_pcs=_limit(max_pcs),
                                  max_sessions=_limit(max_sessions))
    click.echo(f"organisation {org.id} {org.slug}: log in at /o/{org.slug}/login")


@org_group.command("set-limits")
@click.argument("organisation")
@click.option("--max-pcs", default=None, help="Most PCs (none: no limit; not given: unchanged).")
@click.option("--max-sessions", default=None, help="Most sessions at once (none: no limit; not given: unchanged).")
@in_app
def org_set_limits(organisation, max_pcs, max_sessions):
    """Change a firm's limits."""
    with tenancy.across_organisations():
        org = get_organisation(organisation)
        set_limits(org, max_pcs=org.max_pcs if max_pcs is None else _limit(max_pcs),
                   max_sessions=org.max_sessions if max_sessions is None else _limit(max_sessions))
        click.echo(f"organisation {org.slug}: max_pcs={org.max_pcs}, max_sessions={org.max_sessions}")


@org_group.command("operator")
@click.argument("name")
@click.option("--off", is_flag=True, help="No longer an operator.")
@in_app
def org_operator(name, off):
    """Make a person of the default organisation a provider operator (or no longer one)."""
    from . import ops
    from .models import audit

    with tenancy.acting_for(tenancy.DEFAULT):
        user = ops.get_user(name)
        user.is_operator = not off
        audit("operator_off" if off else "operator_on", actor="cli", target=user.name)
        db.session.commit()
    click.echo(f"{user.name}: {'no longer ' if off else ''}a provider operator")
