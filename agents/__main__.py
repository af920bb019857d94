"""``python -m agents enroll|run|forward|status|install|uninstall`` (also ``ponte-agent …``).

Exit codes: 0 fine; 1 ``status`` found a problem; 2 bad configuration;
3 the gateway refused this PC's credential or enrolment code (``run`` stops
instead of retrying: a service manager should not restart it).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import logging.handlers
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__, service
from .config import FIELDS, LOG_LEVELS, ConfigError, load_settings, read_credential

EXIT_PROBLEM = 1
EXIT_CONFIG = 2
EXIT_REFUSED = 3

log = logging.getLogger("agents")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="agent.toml (default: $PONTE_AGENT_CONFIG)")
    p.add_argument("--credential-file", dest="credential_file",
                   help="where enroll stores this PC's credential (0600)")
    p.add_argument("--ca-bundle", dest="ca_bundle", help="PEM file of CAs to trust for the gateway")
    p.add_argument("--pin-sha256", dest="pin_sha256",
                   help="SHA-256 of the gateway certificate (hex; several comma-separated)")
    p.add_argument("--insecure-dev", dest="insecure_dev", action="store_const", const=True, default=None,
                   help="allow plain ws:// and http:// (development only)")
    p.add_argument("--log-file", dest="log_file", help="also log to this file, rotated")
    p.add_argument("--log-level", dest="log_level", type=str.upper, choices=LOG_LEVELS)
    p.add_argument("--log-max-bytes", dest="log_max_bytes", type=int, metavar="BYTES",
                   help="rotate the log file at this size (default 5000000)")
    p.add_argument("--log-backups", dest="log_backups", type=int, metavar="N",
                   help="rotated log files to keep (default 5)")


def _gateway(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--gateway", dest="gateway", required=required,
                   help="gateway URL, e.g. https://ponte.example.com"
                        + ("" if required else " (default: the one enroll stored)"))


def _vnc(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vnc-host", dest="vnc_host", help="VNC server address (default 127.0.0.1)")
    p.add_argument("--vnc-port", dest="vnc_port", type=int, help="VNC server port (default 5900)")
    p.add_argument("--vnc-password-file", dest="vnc_password_file",
                   help="file whose first line is the VNC password")
    p.add_argument("--vnc-password", dest="vnc_password",
                   help="the VNC password (visible to other local users in the process list: "
                        "prefer --vnc-password-file or $PONTE_AGENT_VNC_PASSWORD)")
    p.add_argument("--vnc-username", dest="vnc_username",
                   help="user name for VNC logins that need one (Apple ARD, MS-Logon II, VeNCrypt Plain)")
    p.add_argument("--vnc-ca-file", dest="vnc_ca_file",
                   help="PEM file of CAs (or the certificate itself) to trust for VeNCrypt X509 subtypes")
    p.add_argument("--vnc-pin-sha256", dest="vnc_pin_sha256",
                   help="SHA-256 of the VNC server's certificate (hex; several comma-separated)")
    p.add_argument("--vnc-security", dest="vnc_security",
                   help="only these VNC logins, comma-separated (e.g. TLSVnc,VncAuth; default: any)")
    p.add_argument("--vnc-timeout", dest="vnc_timeout", type=float, metavar="SECONDS",
                   help="bound on connecting to the VNC server plus its RFB handshake (default 10)")
    _files(p)  # every command that serves the screen (run, status, install) serves files too


def _files(p: argparse.ArgumentParser) -> None:
    p.add_argument("--files-folder", dest="files_folder",
                   help="where files sent from the viewer land (default: the user's Downloads)")
    p.add_argument("--files-download-folders", dest="files_download_folders",
                   help="folders whose files the viewer may fetch, comma-separated (default: --files-folder)")
    p.add_argument("--files-max-bytes", dest="files_max_bytes", type=int, metavar="BYTES",
                   help="largest file taken or sent (default 1073741824; 0: none)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agents", description="Ponte agent")
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("enroll", help="swap a one-time enrolment code for this PC's credential")
    _gateway(e, required=True)
    e.add_argument("--code", required=True)
    _common(e)
    r = sub.add_parser("run", help="connect to the gateway and serve sessions")
    _gateway(r)
    _common(r)
    _vnc(r)
    s = sub.add_parser("status", help="say whether gateway, credential and VNC server are usable")
    _gateway(s)
    _common(s)
    _vnc(s)
    f = sub.add_parser("forward", help="serve a local port any VNC viewer can use")
    _gateway(f, required=True)
    f.add_argument("--machine", required=True)
    f.add_argument("--user", default=os.environ.get("PONTE_USER") or getpass.getuser())
    f.add_argument("--listen", default="127.0.0.1:5900", help="HOST:PORT (default 127.0.0.1:5900)")
    _common(f)
    service.add_parsers(sub, common=_common, gateway=_gateway, vnc=_vnc)  # install, uninstall
    return p


#: Every setting is a flag of ``run`` (see tests/agents/test_config.py).
SETTING_ARGS = tuple(FIELDS)


def log_handlers(settings) -> list[logging.Handler]:
    """Where log records go: the rotating ``log_file`` if set, else stderr.

    With a log file, stderr gets records too only when it is a terminal (someone
    is watching): a service manager that writes stderr to a file of its own
    (launchd's StandardErrorPath) would grow it without bound. No stderr at all
    under pythonw.exe (Windows scheduled task).
    """
    handlers: list[logging.Handler] = []
    stderr = sys.stderr
    if stderr is not None and (not settings.log_file or _isatty(stderr)):
        handlers.append(logging.StreamHandler(stderr))
    if settings.log_file:
        path = Path(settings.log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            path, maxBytes=settings.log_max_bytes, backupCount=settings.log_backups, encoding="utf-8"))
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in handlers:
        handler.setFormatter(formatter)
    return handlers


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _setup_logging(settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), handlers=log_handlers(settings), force=True)

    def log_thread_crash(args):  # so a crash in any thread lands in the log file too
        if args.exc_type is not SystemExit:
            log.error("thread %s crashed", args.thread.name if args.thread else "?",
                      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    threading.excepthook = log_thread_crash


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    overrides = {k: getattr(args, k, None) for k in SETTING_ARGS}
    try:
        settings = load_settings(args.config, overrides)
        _setup_logging(settings)
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return COMMANDS[args.command](args, settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        log.error("%s", exc)
        return EXIT_CONFIG


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
    gateway = settings.gateway or gateway
    if not gateway.lower().startswith(("https://", "wss://")) and not settings.insecure_dev:
        # Retrying cannot make this work: say so once and stop (exit 2).
        raise ConfigError(f"refusing plain {gateway.split(':', 1)[0]}:// gateway {gateway}: "
                          "use https://, or --insecure-dev for a test gateway")
    log.info("Ponte agent %s starting: gateway %s, VNC server %s:%s", __version__, gateway,
             settings.vnc_host, settings.vnc_port)
    agent = Agent(settings, gateway, credential)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: agent.stop())
    try:
        agent.run_forever()
    except CredentialRefused as exc:
        log.error("the gateway refused this PC's credential: %s Not retrying: stopping. "
                  "Ask your Ponte admin for a new enrolment code and run 'python -m agents enroll'.",
                  str(exc).rstrip(".") + ".")
        return EXIT_REFUSED
    log.info("Ponte agent stopped")
    return 0


def cmd_status(args, settings) -> int:
    from .doctor import report

    ok, lines = report(settings)
    for line in lines:
        print(line)
    return 0 if ok else EXIT_PROBLEM


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


COMMANDS = {"enroll": cmd_enroll, "run": cmd_run, "status": cmd_status, "forward": cmd_forward,
            **service.COMMANDS}

if __name__ == "__main__":
    sys.exit(main())
