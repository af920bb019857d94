"""``python -m gateway …``: serve, and the admin commands of DESIGN.md §4."""

# Over 300 lines: the commands of DESIGN.md §4 in one place; newer groups live in their own
# modules (policy_commands, org_commands, recording.commands, signin.commands).

from __future__ import annotations

import functools
import logging
import os
import sys
from datetime import datetime

import click
from flask import current_app
from sqlalchemy import select

from . import ops, tenancy
from .config import ConfigError, load_settings
from .extensions import db
from .models import Machine, User
from .machine_status import statuses


class Context:
    def __init__(self, config_path: str | None, organisation: str = "default"):
        self.config_path = config_path
        self.organisation = organisation
        self._app = None

    @property
    def app(self):
        if self._app is None:
            from . import create_app

            try:
                self._app = create_app(load_settings(self.config_path))
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
        return self._app


pass_ctx = click.make_pass_decorator(Context)


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="gateway.toml (default: $PONTE_CONFIG).")
@click.option("--organisation", "-o", default="default", envvar="PONTE_ORGANISATION", show_default=True,
              help="The firm (slug or id) whose people, groups and PCs the command works on.")
@click.pass_context
def main(ctx, config_path, organisation):
    """Ponte gateway."""
    ctx.obj = Context(config_path, organisation)


def in_app(fn):
    """Run the command inside the gateway app's context, acting for ``--organisation``; an
    operation's refusal (``ops.AdminError``) is printed as the command's error."""
    @functools.wraps(fn)
    @pass_ctx
    def command(ctx, *args, **kwargs):
        with ctx.app.app_context():
            try:
                with tenancy.acting_for(_organisation_id(ctx.organisation)):
                    return fn(*args, **kwargs)
            except ops.AdminError as exc:
                raise click.ClickException(str(exc)) from exc
    return command


def _organisation_id(ref: str) -> int:
    from .ops.organisations import get_organisation

    with tenancy.across_organisations():
        return get_organisation(ref).id


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="gateway.toml (same as the group option; DESIGN.md §4 names it here).")
@click.option("--host", default=None, help="Address to listen on (default from config).")
@click.option("--port", type=int, default=None)
@click.option("--workers", default=None,
              help="Gateway processes on this port: a number, or auto (one per core; one with the embedded "
                   "Redis). Default from config (auto).")
@click.option("--worker", "worker_index", type=int, default=None, hidden=True)
@click.option("--handoff", "handoff", default=None, hidden=True)
@pass_ctx
def serve(ctx, config_path, host, port, workers, worker_index, handoff):
    """Serve HTTP and WebSockets: one gevent process, or --workers N of them on one port."""
    if config_path:
        ctx.config_path = config_path
    logging.basicConfig(level=os.environ.get("PONTE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from . import workers as multi
    from .node import serve as run

    try:
        settings = load_settings(ctx.config_path)
        n = multi.count(workers if workers is not None else settings.workers, embedded_redis=settings.embedded_redis)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    host = host or settings.bind
    if worker_index is None and n > 1:
        if settings.embedded_redis:
            raise click.ClickException("--workers needs a shared Redis (redis_url or redis_sentinels): the "
                                       "embedded one belongs to a single process")
        _warn_without_public_url(settings, host)
        sys.exit(multi.supervise(n, ctx.config_path, host, port, drain_timeout=settings.drain_timeout))
    if worker_index is None:
        _warn_without_public_url(ctx.app.config["PONTE"], host)
        run(ctx.app, host, port if port is not None else settings.port,
            ready=lambda addr: print(f"listening on http://{addr[0]}:{addr[1]}", flush=True))
        return
    # One worker of --workers: its own node id; the public port shared, a private one announced.
    os.environ["PONTE_NODE_ID"] = f"{settings.node_id}-w{worker_index}"
    port = port if port is not None else settings.port
    peer_host = settings.node_address.rpartition(":")[0].strip("[]") if settings.node_address else host
    if peer_host in ("", "0.0.0.0", "::"):
        peer_host = "127.0.0.1"
    run(ctx.app, host, port, listener=multi.reuse_port_listener(host, port), peer_host=peer_host, handoff=handoff,
        ready=lambda addr: print(f"worker listening on http://{addr[0]}:{addr[1]}", flush=True))


def _warn_without_public_url(settings, host: str) -> None:
    if not settings.public_url and not _is_loopback(host):
        warning = (f"public_url is not set, and the gateway listens on {host or 'every address'}, beyond this "
                   f"machine. Links and commands it hands out will use the request's Host only when it is "
                   f"one of allowed_hosts ({', '.join(settings.trusted_hosts)}), else answer 400. Set "
                   f"public_url to the address people type.")
        logging.getLogger("gateway.cli").warning(warning)
        click.echo(f"WARNING: {warning}", err=True)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False   # a name or a wildcard: assume others can reach it


@main.group()
def user():
    """Manage people."""


def _password(confirm: bool = True) -> str:
    env = os.environ.get("PONTE_NEW_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


@user.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True)
@in_app
def user_add(name, admin):
    """Create a user (password from prompt, stdin or $PONTE_NEW_PASSWORD)."""
    u = ops.add_user(name, _password(), admin=admin)
    click.echo(f"user {u.name} created{' (admin)' if admin else ''}")


@user.command("passwd")
@click.argument("name")
@in_app
def user_passwd(name):
    ops.set_password(ops.get_user(name), _password())
    click.echo(f"password of {name} changed")


@user.command("disable")
@click.argument("name")
@in_app
def user_disable(name):
    """Disable a user and end their live sessions."""
    ops.set_disabled(ops.get_user(name), True)
    click.echo(f"user {name} disabled")


@user.command("enable")
@click.argument("name")
@in_app
def user_enable(name):
    ops.set_disabled(ops.get_user(name), False)
    click.echo(f"user {name} enabled")


@user.command("delete")
@click.argument("name")
@in_app
def user_delete(name):
    """Delete a user (their history and audit entries are kept)."""
    ops.delete_user(ops.get_user(name))
    click.echo(f"user {name} deleted")


@user.command("token")
@click.argument("name")
@click.option("--label", default="CLI token", help="What the token is for.")
@click.option("--days", type=int, default=None, help="Lifetime in days (default: until revoked).")
@in_app
def user_token(name, label, days):
    """Print a new bearer API token acting as NAME (shown once)."""
    _row, secret = ops.create_token(ops.get_user(name), label, days=days)
    click.echo(secret)


@user.command("list")
@in_app
def user_list():
    for u in db.session.scalars(select(User).order_by(User.name)):
        flags = ",".join(f for f, on in (("admin", u.is_admin), ("disabled", u.disabled)) if on)
        click.echo(f"{u.id}\t{u.name}\t{flags}")


@main.group()
def machine():
    """Manage office PCs."""


@machine.command("add")
@click.argument("name")
@in_app
def machine_add(name):
    """Create a machine and print its one-time enrolment code (valid 24 h)."""
    m, code = ops.add_machine(name)
    click.echo(f"machine {m.name} (id {m.id}) created")
    click.echo(f"enrolment code: {code}")
    click.echo(f"on the PC: python -m agents enroll --gateway URL --code {code}")


@machine.command("list")
@in_app
def machine_list():
    rows = list(db.session.scalars(select(Machine).order_by(Machine.name)))
    for m, s in zip(rows, statuses(rows)):
        state = "revoked" if m.revoked_at else ("not enrolled" if not m.enrolled_at else s.state)
        click.echo(f"{m.id}\t{m.name}\t{state}")


@machine.command("revoke")
@click.argument("name")
@in_app
def machine_revoke(name):
    """Revoke a machine's credential; its agent is disconnected."""
    ops.revoke_machine(ops.get_machine(name))
    click.echo(f"machine {name} revoked")


@machine.command("rename")
@click.argument("name")
@click.argument("new_name")
@in_app
def machine_rename(name, new_name):
    ops.rename(ops.get_machine(name), new_name)
    click.echo(f"machine {name} is now {new_name}")


@machine.command("code")
@click.argument("name")
@in_app
def machine_code(name):
    """Print a new one-time enrolment code (older unused codes stop working)."""
    code = ops.new_enrolment(ops.get_machine(name))
    click.echo(f"enrolment code: {code}")


@main.command()
@click.argument("user_name")
@click.argument("machine_name")
@in_app
def grant(user_name, machine_name):
    """Let USER open MACHINE."""
    added = ops.grant(ops.get_user(user_name), ops.get_machine(machine_name))
    click.echo(f"{user_name} may open {machine_name}" + ("" if added else " (already)"))


@main.command()
@click.argument("user_name")
@click.argument("machine_name")
@in_app
def ungrant(user_name, machine_name):
    """Stop USER opening MACHINE."""
    removed = ops.ungrant(ops.get_user(user_name), ops.get_machine(machine_name))
    click.echo(f"{user_name} may no longer open {machine_name}" + ("" if removed else " (was not granted)"))


@main.command()
@in_app
def sessions():
    """List live sessions."""
    for s in current_app.extensions["ponte.live"].live_sessions():
        started = datetime.fromtimestamp(float(s.get("started", 0))).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{s['id']}\t{s.get('user')}\t{s.get('machine')}\t{s.get('client_ip')}\t{started}\t"
                   f"{s.get('bytes_to_viewer', 0)}↓ {s.get('bytes_from_viewer', 0)}↑")


@main.command()
@click.argument("session")
@click.option("--reason", default="Ended by an admin")
@in_app
def end(session, reason):
    """End a live session."""
    if not ops.end_session(session, reason):
        raise click.ClickException(f"No live session {session}.")
    click.echo(f"session {session} ending")
from .signin import commands as _signin_commands  # noqa: E402,F401  (user signin, invite, import)
from . import policy_commands as _policy_commands  # noqa: E402,F401  (policy show, policy set)
from .recording import commands as _recording_commands  # noqa: E402,F401  (recording list, delete, purge)
from .signup import commands as _signup_commands  # noqa: E402,F401  (signup list, expire; issue 17)
from . import org_commands as _org_commands  # noqa: E402,F401  (org list, add, set-limits: issue 17)
