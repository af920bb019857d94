"""``python -m gateway recording …``: list recordings, export one to a video, delete one, purge those past retention."""

from __future__ import annotations

import click
from sqlalchemy import select

from .. import recording
from ..cli import in_app, main
from ..extensions import db
from ..models import SessionRecord, audit
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


@recording_group.command("export")
@click.argument("session")
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
@click.option("--fps", type=click.FloatRange(0.5, 30), default=5.0, show_default=True,
              help="Frames per second of the video.")
@in_app
def recording_export(session, out, fps):
    """Export SESSION's recording to OUT, a .webm (VP9) or .mp4 (H.264) video (audited)."""
    from pathlib import Path

    from . import export, format, render

    record = db.session.get(SessionRecord, session)
    if record is None or not recording.playable(record.recording):
        raise click.ClickException("This session has no recording.")
    try:
        with recording.storage().open(session) as reader:
            made = export.export(reader, Path(out), fps=fps)
    except FileNotFoundError:
        raise click.ClickException("The recording's file is not in the recordings folder.") from None
    except (export.ExportError, render.RenderError, format.FormatError) as exc:
        raise click.ClickException(str(exc)) from None
    audit("recording_export", actor="cli", target=record.machine_name, detail=f"{session} ({record.user_name}) to {out}")
    db.session.commit()
    click.echo(f"{out}: {made['width']}x{made['height']}, {made['frames']} frames at {fps:g} fps, "
               f"{made['duration_ms'] / 1000:.1f} s")


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
