"""``python -m gateway signup list|expire``: the firms' requests from the command line.

Approving stays on the provider's page (``/provider/signups``): it mails a link built from
the request's address. ``expire`` is for a daily timer; the queue page does the same when opened.
"""

from __future__ import annotations

import click
from sqlalchemy import select

from ..cli import in_app, main
from ..extensions import db
from ..models import SIGNUP_STATES, SignupRequest
from . import requests


@main.group("signup")
def signup_group():
    """Firms asking for access (gateway/signup/)."""


@signup_group.command("list")
@click.option("--status", type=click.Choice(SIGNUP_STATES), default=None, help="Only requests in this state.")
@in_app
def signup_list(status):
    """Requests: id, status, firm, e-mail, PCs, asked at."""
    query = select(SignupRequest).order_by(SignupRequest.id)
    if status:
        query = query.where(SignupRequest.status == status)
    for r in db.session.scalars(query):
        click.echo(f"{r.id}\t{r.status}\t{r.firm_name}\t{r.email}\t{r.pcs}\t{r.created_at:%Y-%m-%d %H:%M:%S}")


@signup_group.command("expire")
@in_app
def signup_expire():
    """Mark unconfirmed requests whose link ran out as expired."""
    click.echo(f"{requests.expire_unconfirmed()} request(s) expired")
