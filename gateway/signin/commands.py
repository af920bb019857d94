"""``python -m gateway user signin|invite|import``: company sign-in and onboarding from the CLI.

Registered on ``gateway.cli``'s ``user`` group when ``cli`` imports this module.
"""

from __future__ import annotations

import click

from flask import current_app

from .. import ops
from ..cli import in_app, user
from ..models import SIGNIN_METHODS


@user.command("signin")
@click.argument("name")
@click.argument("method", type=click.Choice(SIGNIN_METHODS))
@in_app
def user_signin(name, method):
    """Choose how NAME signs in: local password, LDAP directory or OpenID (ends their logins)."""
    from .accounts import set_signin_method

    changed = set_signin_method(ops.get_user(name), method)
    click.echo(f"{name} signs in with {method}" + ("" if changed else " (unchanged)"))


@user.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Only show what would change.")
@in_app
def user_import(file, dry_run):
    """Add people from a CSV (name, display name, email, groups, PCs; ';' between names),
    each with a one-time set-password link (emailed when SMTP is configured)."""
    from . import importer, invitations
    from ..errors import ImportRefused

    with _links_context():
        try:
            result = importer.plan(file.read())
        except ImportRefused as exc:
            raise click.ClickException(str(exc)) from exc
        for row in result.accepted:
            click.echo(f"{'would add' if dry_run else 'add'} {row.name}"
                       + (f" groups={';'.join(row.groups)}" if row.groups else "")
                       + (f" pcs={';'.join(row.machines)}" if row.machines else ""))
        for group in sorted(result.new_groups):
            click.echo(f"{'would create' if dry_run else 'create'} group {group}")
        for line, why in result.rejected:
            click.echo(f"line {line}: rejected: {why}", err=True)
        if dry_run:
            click.echo(f"{len(result.accepted)} to add, {len(result.rejected)} rejected (dry run: nothing changed)")
            return
        from ..models import find_user

        for name, token in importer.apply(result):
            sent = invitations.send_link(find_user(name), token)
            click.echo(f"{name}\t{invitations.link(token)}" + ("\t(emailed)" if sent else ""))
        click.echo(f"{len(result.accepted)} added, {len(result.rejected)} rejected")


@user.command("invite")
@click.argument("name")
@click.option("--email", default="", help="Where to send the link (when SMTP is configured).")
@click.option("--display-name", default="")
@click.option("--admin", is_flag=True)
@in_app
def user_invite(name, email, display_name, admin):
    """Add NAME without a password, or (an existing local account) make a new link; print the
    one-time set-password link (emailed when SMTP is configured and there is an address)."""
    from ..models import find_user
    from . import invitations
    from .accounts import add_invited_user

    with _links_context():
        person = find_user(name) or add_invited_user(name, email=email, display_name=display_name, admin=admin)
        token = invitations.issue(person, invitations.INVITE)
        sent = invitations.send_link(person, token)
        click.echo(invitations.link(token) + (f"\t(emailed to {person.email})" if sent else ""))


def _links_context():
    """A request context on the public URL, so the links printed are the ones people can open."""
    return current_app.test_request_context(base_url=current_app.config["PONTE"].public_origin)
