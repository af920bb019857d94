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


@org_group.command("set-hostname")
@click.argument("organisation")
@click.argument("hostname")
@in_app
def org_set_hostname(organisation, hostname):
    """Give a firm its own host name (its people's login page there); "none" takes it away."""
    from .ops.organisations import set_hostname

    with tenancy.across_organisations():
        org = get_organisation(organisation)
        set_hostname(org, None if hostname.strip().lower() in ("", "none", "-") else hostname)
        click.echo(f"organisation {org.slug}: host name {org.hostname or 'none'}")


@org_group.command("disable")
@click.argument("organisation")
@in_app
def org_disable(organisation):
    """Suspend a firm: its people's logins and live sessions end now, on every node; its agents,
    API tokens, share links and login page are refused until it is enabled again."""
    from .ops.organisations import set_disabled

    with tenancy.across_organisations():
        org = get_organisation(organisation)
        changed = set_disabled(org, True)
    click.echo(f"organisation {org.slug}: disabled" + ("" if changed else " (already)"))


@org_group.command("enable")
@click.argument("organisation")
@in_app
def org_enable(organisation):
    """Let a disabled firm in again (its people log in anew; its agents reconnect by themselves)."""
    from .ops.organisations import set_disabled

    with tenancy.across_organisations():
        org = get_organisation(organisation)
        changed = set_disabled(org, False)
    click.echo(f"organisation {org.slug}: enabled" + ("" if changed else " (already)"))


def _secret(value: str | None, what: str) -> str | None:
    """A secret option: "-" reads it from standard input (so it is not in the process list)."""
    if value == "-":
        return click.get_text_stream("stdin").readline().rstrip("\r\n")
    return value


@org_group.command("signin")
@click.argument("organisation")
@click.option("--oidc-issuer", default=None, help="The firm's OpenID provider (its issuer URL); \"\": off.")
@click.option("--oidc-client-id", default=None)
@click.option("--oidc-client-secret", default=None, help="\"-\": read from standard input. Never shown again.")
@click.option("--oidc-label", default=None, help="The login page's button: \"Sign in with <label>\".")
@click.option("--oidc-create-users/--no-oidc-create-users", default=None,
              help="Create the firm's people at their first sign-in.")
@click.option("--oidc-group-map", multiple=True, help="\"<claim value> => <Ponte group>\" (repeat).")
@click.option("--ldap-url", default=None, help="ldaps://host or ldap://host (with --ldap-starttls); \"\": off.")
@click.option("--ldap-starttls/--no-ldap-starttls", default=None)
@click.option("--ldap-ca-file", default=None, help="CA bundle on every node's disk (empty: the system's).")
@click.option("--ldap-bind-dn", default=None)
@click.option("--ldap-bind-password", default=None, help="\"-\": read from standard input. Never shown again.")
@click.option("--ldap-user-base", default=None)
@click.option("--ldap-user-filter", default=None, help="{name}: the typed name (default: uid={name}).")
@click.option("--ldap-group-base", default=None)
@click.option("--ldap-disabled-filter", default=None)
@click.option("--ldap-group-map", multiple=True, help="\"<group DN or cn> => <Ponte group>\" (repeat).")
@in_app
def org_signin(organisation, **options):
    """Show or set a firm's own company sign-in (its OpenID provider, its LDAP directory).

    With no option: what is set (secrets only as "set"). Options not given are unchanged."""
    from .signin import firms

    for name in ("oidc_client_secret", "ldap_bind_password"):
        options[name] = _secret(options[name], name)
    for name in firms.MAP_FIELDS:
        options[name] = "\n".join(options[name]) if options[name] else None
    with tenancy.across_organisations():
        org = get_organisation(organisation)
        if any(value is not None for value in options.values()):
            changed = firms.save(org, options)
            click.echo(f"organisation {org.slug}: " + (f"changed {', '.join(changed)}" if changed else "unchanged"))
        for name, value in firms.describe(org.id).items():
            click.echo(f"{name}\t{value}")
