"""``python -m gateway user signin|invite|import``: company sign-in and onboarding from the CLI.

Registered on ``gateway.cli``'s ``user`` group when ``cli`` imports this module.
"""

from __future__ import annotations

import click

from ..cli import _run, pass_ctx, user
from ..models import SIGNIN_METHODS


@user.command("signin")
@click.argument("name")
@click.argument("method", type=click.Choice(SIGNIN_METHODS))
@pass_ctx
def user_signin(ctx, name, method):
    """Choose how NAME signs in: local password, LDAP directory or OpenID (ends their logins)."""
    from .. import machines as ops
    from .accounts import set_signin_method

    with ctx.app.app_context():
        changed = _run(lambda: set_signin_method(ops.get_user(name), method))
        click.echo(f"{name} signs in with {method}" + ("" if changed else " (unchanged)"))


@user.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Only show what would change.")
@pass_ctx
def user_import(ctx, file, dry_run):
    """Add people from a CSV (name, display name, email, groups, PCs; ';' between names),
    each with a one-time set-password link (emailed when SMTP is configured)."""
    from . import importer, invitations
    from .errors import ImportRefused

    with ctx.app.app_context(), ctx.app.test_request_context(base_url=ctx.app.config["PONTE"].public_origin):
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

        for name, token in _run(lambda: importer.apply(result)):
            sent = invitations.send_link(find_user(name), token)
            click.echo(f"{name}\t{invitations.link(token)}" + ("\t(emailed)" if sent else ""))
        click.echo(f"{len(result.accepted)} added, {len(result.rejected)} rejected")


@user.command("invite")
@click.argument("name")
@click.option("--email", default="", help="Where to send the link (when SMTP is configured).")
@click.option("--display-name", default="")
@click.option("--admin", is_flag=True)
@pass_ctx
def user_invite(ctx, name, email, display_name, admin):
    """Add NAME without a password, or (an existing local account) make a new link; print the
    one-time set-password link (emailed when SMTP is configured and there is an address)."""
    from ..models import find_user
    from . import invitations
    from .accounts import add_invited_user

    with ctx.app.app_context(), ctx.app.test_request_context(base_url=ctx.app.config["PONTE"].public_origin):
        person = find_user(name) or _run(lambda: add_invited_user(name, email=email, display_name=display_name,
                                                                  admin=admin))
        token = _run(lambda: invitations.issue(person, invitations.INVITE))
        sent = invitations.send_link(person, token)
        click.echo(invitations.link(token) + (f"\t(emailed to {person.email})" if sent else ""))
