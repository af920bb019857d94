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
