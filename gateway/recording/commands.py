"""``python -m gateway recording …``: list recordings, delete one, purge those past retention."""

from __future__ import annotations

import click
from sqlalchemy import select

from .. import recording
from ..cli import in_app, main
from ..extensions import db
from ..models import SessionRecord
from ..ops import recordings as recordings_ops


@main.group("recording")
def recording_group():
    """Session recordings (gateway/recording/)."""


@recording_group.command("list")
@in_app
def recording_list():
    """Sessions with a recording: id, user, PC, started, status."""
    rows = db.session.scalars(select(SessionRecord).where(SessionRecord.recording != "")
                              .order_by(SessionRecord.started_at.desc()))
    for r in rows:
        click.echo(f"{r.id}\t{r.user_name}\t{r.machine_name}\t{r.started_at:%Y-%m-%d %H:%M:%S}\t{r.recording}")


@recording_group.command("delete")
@click.argument("session")
@in_app
def recording_delete(session):
    """Delete SESSION's recording (audited; the history row stays)."""
    recordings_ops.delete_recording(session)
    click.echo(f"recording of {session} deleted")


@recording_group.command("purge")
@click.option("--days", type=int, default=None, help="Older than this, for every PC (default: each PC's policy, then recording_retention_days).")
@in_app
def recording_purge(days):
    """Delete recordings of sessions that ended longer ago than the retention (run it daily)."""
    purged = recordings_ops.purge(days=days)
    click.echo(f"{len(purged)} recording(s) deleted")


__all__ = ["recording", "recording_group"]
