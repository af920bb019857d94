"""``make demo``: the whole of Ponte on one machine, on loopback.

Starts a real Xvnc desktop (with a VNC password), the gateway (embedded
Redis unless REDIS_URL is set, SQLite in ``demo-state/``), enrols an agent for
the desktop, creates an admin and an employee, grants the PC, and prints the
URL and both logins. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("PONTE_DEMO_STATE", ROOT / "demo-state"))
PORT = int(os.environ.get("PONTE_PORT", "8080"))
BIND = os.environ.get("PONTE_BIND", "127.0.0.1")
MACHINE = "office-pc"
ADMIN, EMPLOYEE = "admin", "employee"

children: list[subprocess.Popen] = []


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def spawn(args, log_name: str, env=None) -> subprocess.Popen:
    log = open(STATE / log_name, "ab")
    proc = subprocess.Popen(args, cwd=ROOT, env=env or os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    children.append(proc)
    return proc


# The gateway drains for up to its drain_timeout (10 s by default) before it exits.
STOP_GRACE = 12.0
FORCED_GRACE = 3.0
_deadline = float("inf")
_forced = False


def _force(_signum, _frame) -> None:
    """A signal while stopping: hurry, never abandon the shutdown half-way."""
    global _forced, _deadline
    if not _forced:
        _forced = True
        _deadline = min(_deadline, time.monotonic() + FORCED_GRACE)
        # os.write, not print: a handler may run in the middle of the main code's print.
        os.write(sys.stdout.fileno(), b"[demo] forcing: ending what is left now\n")
        for proc in children:
            _signal_group(proc, signal.SIGTERM)  # the gateway's second signal: it exits at once


def _interrupt(_signum, _frame) -> None:
    """The first Ctrl-C (or SIGTERM): stop. From this instant on, another one forces (so one
    arriving before ``stop_all`` has started cannot interrupt the shutdown with a traceback)."""
    signal.signal(signal.SIGINT, _force)
    signal.signal(signal.SIGTERM, _force)
    raise KeyboardInterrupt


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def stop_all() -> None:
    """Stop every child, whatever signals arrive meanwhile.

    SIGTERM first (the gateway drains: viewers and the agent are told why);
    a further Ctrl-C or SIGTERM becomes the gateway's "second signal" (exit
    now, ends journaled, embedded Redis stopped); SIGKILL only for what is
    still there after that.
    """
    global _deadline
    signal.signal(signal.SIGINT, _force)
    signal.signal(signal.SIGTERM, _force)
    _deadline = min(_deadline, time.monotonic() + STOP_GRACE)   # a press already forced: keep its hurry
    say("stopping (the gateway finishes its sessions first); press Ctrl-C again to force")
    for proc in reversed(children):
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    for proc in reversed(children):
        while proc.poll() is None:
            if time.monotonic() > _deadline:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.05)
        _signal_group(proc, signal.SIGKILL)  # whatever the leader left behind in its group


def wait_for(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"[demo] timed out waiting for {what}; see {STATE}/*.log")


def free_display() -> int:
    for n in range(10, 100):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise SystemExit("[demo] no free X display number")


def start_desktop(password: str) -> tuple[int, int]:
    display = free_display()
    port = 5900 + display
    pwfile = STATE / "vncpasswd"
    pwfile.write_bytes(subprocess.run(["vncpasswd", "-f"], input=password.encode(), capture_output=True,
                                      check=True).stdout)
    pwfile.chmod(0o600)
    spawn(["Xvnc", f":{display}", "-rfbport", str(port), "-localhost", "-geometry", "1280x800", "-depth", "24",
           "-SecurityTypes", "VncAuth", "-PasswordFile", str(pwfile), "-BlacklistThreshold=10000",
           "-AlwaysShared", "-nolisten", "tcp"], "xvnc.log")
    env = {**os.environ, "DISPLAY": f":{display}"}
    wait_for(lambda: subprocess.run(["xdpyinfo"], env=env, capture_output=True).returncode == 0,
             f"X display :{display}")
    subprocess.run(["xsetroot", "-solid", "#2b5797"], env=env, check=False)
    if shutil.which("xclock"):
        spawn(["xclock", "-geometry", "220x220+40+40", "-update", "1"], "xclock.log", env)
    if shutil.which("xterm"):
        spawn(["xterm", "-geometry", "90x24+300+60", "-title", "Office PC", "-e",
               "bash -c 'echo Welcome to your office PC, served by Ponte.; echo; exec bash'"], "xterm.log", env)
    return display, port


def gateway_cli(env, *args: str, stdin: str | None = None) -> str:
    res = subprocess.run([sys.executable, "-m", "gateway", *args], cwd=ROOT, env=env, input=stdin,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"[demo] gateway {' '.join(args)} failed:\n{res.stdout}{res.stderr}")
    return res.stdout


def main() -> int:
    if shutil.which("Xvnc") is None or shutil.which("vncpasswd") is None:
        raise SystemExit("[demo] Xvnc and vncpasswd (TigerVNC) are needed: run 'make demo' as root on "
                         "Debian/Ubuntu, or install tigervnc-standalone-server and tigervnc-tools.")
    if STATE.exists():
        shutil.rmtree(STATE)
    STATE.mkdir()
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    env = {**os.environ, "PONTE_INSTANCE_PATH": str(STATE / "instance"), "PONTE_PORT": str(PORT),
           "PONTE_BIND": BIND, "PYTHONPATH": str(ROOT)}
    url = f"http://{BIND}:{PORT}"
    vnc_password = secrets.token_urlsafe(6)[:8]
    passwords = {ADMIN: secrets.token_urlsafe(9), EMPLOYEE: secrets.token_urlsafe(9)}
    try:
        display, vnc_port = start_desktop(vnc_password)
        say(f"desktop: Xvnc on :{display} (VNC port {vnc_port}, localhost only, VNC password set)")
        gw = spawn([sys.executable, "-m", "gateway", "serve"], "gateway.log", env)
        wait_for(lambda: b"listening on" in (STATE / "gateway.log").read_bytes() or gw.poll() is not None,
                 "the gateway")
        if gw.poll() is not None:
            raise SystemExit(f"[demo] the gateway did not start; see {STATE}/gateway.log "
                             f"(is port {PORT} free? set PONTE_PORT)")
        gateway_cli(env, "user", "add", ADMIN, "--admin", stdin=passwords[ADMIN] + "\n")
        gateway_cli(env, "user", "add", EMPLOYEE, stdin=passwords[EMPLOYEE] + "\n")
        code = re.search(r"enrolment code: (\S+)", gateway_cli(env, "machine", "add", MACHINE)).group(1)
        gateway_cli(env, "grant", EMPLOYEE, MACHINE)
        agent_env = {k: v for k, v in env.items() if not k.startswith("PONTE_")}
        agent_env["PONTE_AGENT_VNC_PASSWORD"] = vnc_password
        cred = STATE / "agent-credential"
        enrol = subprocess.run([sys.executable, "-m", "agents", "enroll", "--gateway", url, "--code", code,
                                "--insecure-dev", "--credential-file", str(cred)], cwd=ROOT, env=agent_env,
                               capture_output=True, text=True)
        if enrol.returncode != 0:
            raise SystemExit(f"[demo] agent enrolment failed: {enrol.stderr}")
        spawn([sys.executable, "-m", "agents", "run", "--credential-file", str(cred), "--insecure-dev",
               "--vnc-port", str(vnc_port)], "agent.log", agent_env)
        wait_for(lambda: f"{MACHINE}\tonline" in gateway_cli(env, "machine", "list"), "the agent to come online")
        print(f"""
  Ponte is running.

    URL:       {url}/
    employee:  {EMPLOYEE} / {passwords[EMPLOYEE]}   (click "{MACHINE}" to see its desktop)
    admin:     {ADMIN} / {passwords[ADMIN]}

  Logs in {STATE}/. Press Ctrl-C to stop everything.
""", flush=True)
        while gw.poll() is None:
            time.sleep(0.5)
        say("the gateway stopped; see demo-state/gateway.log")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
