"""``python -m gateway signup list|approve|refuse|expire``: the firms' requests from the command line.

``approve`` and ``refuse`` do what the provider's queue (``/provider/signups``) does, audited as
the operator ``cli``; the command waits for the first admin's invitation to be handed to the
mail server (a failure is logged, as on the page). ``expire`` is for a daily timer; the queue
page does the same when opened.
"""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from ..cli import in_app, main
from ..extensions import db
from ..errors import NotFound
from ..models import SIGNUP_STATES, SignupRequest
from . import requests
from .outbox import outbox

#: Seconds ``approve`` waits for the mail server to take the invitation.
MAIL_WAIT = 30.0


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


def _request(request_id: int) -> SignupRequest:
    try:
        return requests.get_request(request_id)
    except NotFound as exc:
        raise click.ClickException(f"no sign-up request {request_id}") from exc


@signup_group.command("approve")
@click.argument("request_id", type=int)
@in_app
def signup_approve(request_id):
    """Approve a confirmed request: its firm and first admin are made, the invitation mailed."""
    row = _request(request_id)
    # The links in the mail are the public ones, as the queue page's would be.
    with current_app.test_request_context(base_url=current_app.config["PONTE"].public_origin):
        user, queued = requests.approve(row, actor="cli")
    sent = queued and outbox(current_app).flush(MAIL_WAIT)
    click.echo(f"request {row.id} approved: organisation {row.organisation_id}, first admin {user.name} "
               f"<{row.email}>" + ("" if sent else " (the invitation mail was not sent in time: send a new link)"))


@signup_group.command("refuse")
@click.argument("request_id", type=int)
@in_app
def signup_refuse(request_id):
    """Refuse a confirmed request (nothing is made; the firm is not told)."""
    row = _request(request_id)
    requests.refuse(row, actor="cli")
    click.echo(f"request {row.id} refused: {row.firm_name}")


signup_group.add_command(signup_refuse, "reject")   # the word the issue used
