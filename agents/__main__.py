"""``python -m agents enroll|run|forward|status``."""

from __future__ import annotations

import argparse
import getpass
import logging
import logging.handlers
import os
import signal
import sys

from . import __version__
from .config import ConfigError, load_settings, read_credential

EXIT_REFUSED = 3


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="agent.toml (default: $PONTE_AGENT_CONFIG)")
    p.add_argument("--credential-file", dest="credential_file")
    p.add_argument("--ca-bundle", dest="ca_bundle", help="PEM file of CAs to trust for the gateway")
    p.add_argument("--pin-sha256", dest="pin_sha256", help="SHA-256 of the gateway certificate (hex)")
    p.add_argument("--insecure-dev", dest="insecure_dev", action="store_const", const=True, default=None,
                   help="allow plain ws:// and http:// (development only)")
    p.add_argument("--log-file", dest="log_file")
    p.add_argument("--log-level", dest="log_level")


def _vnc(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vnc-host", dest="vnc_host")
    p.add_argument("--vnc-port", dest="vnc_port", type=int)
    p.add_argument("--vnc-password-file", dest="vnc_password_file",
                   help="file whose first line is the VNC password (or $PONTE_AGENT_VNC_PASSWORD)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agents", description="Ponte agent")
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("enroll", help="swap a one-time enrolment code for this PC's credential")
    e.add_argument("--gateway", required=True)
    e.add_argument("--code", required=True)
    _common(e)
    r = sub.add_parser("run", help="connect to the gateway and serve sessions")
    _common(r)
    _vnc(r)
    s = sub.add_parser("status", help="say whether gateway, credential and VNC server are usable")
    _common(s)
    _vnc(s)
    f = sub.add_parser("forward", help="serve a local port any VNC viewer can use")
    f.add_argument("--gateway", required=True)
    f.add_argument("--machine", required=True)
    f.add_argument("--user", default=os.environ.get("PONTE_USER") or getpass.getuser())
    f.add_argument("--listen", default="127.0.0.1:5900", help="HOST:PORT (default 127.0.0.1:5900)")
    _common(f)
    return p


SETTING_ARGS = ("credential_file", "ca_bundle", "pin_sha256", "insecure_dev", "log_file", "log_level",
                "vnc_host", "vnc_port", "vnc_password_file")


def _setup_logging(settings) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if settings.log_file:
        handlers.append(logging.handlers.RotatingFileHandler(settings.log_file, maxBytes=5_000_000, backupCount=5))
    logging.basicConfig(level=settings.log_level.upper(), handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    overrides = {k: getattr(args, k, None) for k in SETTING_ARGS}
    try:
        settings = load_settings(args.config, overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings)
    try:
        return COMMANDS[args.command](args, settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_enroll(args, settings) -> int:
    from .enroll import enroll
    from .transport import TransportError

    try:
        name = enroll(args.gateway, args.code, settings)
    except TransportError as exc:
        print(f"enrolment failed: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"enrolled as machine {name!r}; credential saved to {settings.credential_path}")
    return 0


def cmd_run(args, settings) -> int:
    from .runtime import Agent, CredentialRefused

    gateway, credential = read_credential(settings.credential_path)
    agent = Agent(settings, settings.gateway or gateway, credential)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: agent.stop())
    try:
        agent.run_forever()
    except CredentialRefused as exc:
        logging.getLogger("agents").error(
            "the gateway refused this PC's credential: %s. Not retrying; ask your admin to enrol it again.", exc)
        return EXIT_REFUSED
    return 0


def cmd_status(args, settings) -> int:
    from .status import report

    ok, lines = report(settings)
    for line in lines:
        print(line)
    return 0 if ok else 1


def cmd_forward(args, settings) -> int:
    from .forward import Forwarder
    from .transport import TransportError

    host, _, port = args.listen.rpartition(":")
    password = os.environ.get("PONTE_PASSWORD") or getpass.getpass(f"Ponte password for {args.user}: ")
    fwd = Forwarder(args.gateway, args.machine, args.user, password, settings.tls)
    try:
        fwd.login()
    except TransportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        fwd.serve(host or "127.0.0.1", int(port),
                  ready=lambda addr: print(f"forwarding {addr[0]}:{addr[1]} → {args.machine}", flush=True))
    except KeyboardInterrupt:
        pass
    return 0


COMMANDS = {"enroll": cmd_enroll, "run": cmd_run, "status": cmd_status, "forward": cmd_forward}

if __name__ == "__main__":
    sys.exit(main())
