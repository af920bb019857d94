"""Carrying a plan out (the only I/O of install and uninstall), and what ``--dry-run`` prints
instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import ServiceError
from .parts import Plan


def apply(plan: Plan, runner=subprocess.run, out=print, account_exists=None, before_files=None) -> None:
    """Carry the plan out; a command that fails (and may not) stops it with ``ServiceError``.

    ``before_files`` (enrolment) runs once the folders exist and are locked down.
    """
    account_exists = account_exists or _account_exists
    for folder in plan.folders:
        Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    _run(plan.first_steps, runner, out, account_exists)
    if before_files is not None:
        before_files()
    for source, dest, mode in plan.copies:
        _write(Path(dest), Path(source).read_bytes(), mode)
        out(f"copied {source} -> {dest}")
    for f in plan.files:
        _write(Path(f.path), f.data, f.mode)
        out(f"wrote {f.path}")
    _run(plan.steps, runner, out, account_exists)
    for path in plan.removals:
        p = Path(path)
        if p.is_dir():
            shutil.rmtree(p)
            out(f"removed {p}")
        elif p.exists():
            p.unlink()
            out(f"removed {p}")
    _run(plan.after_removal, runner, out, account_exists)
    for note in plan.notes:
        out(note)


def _run(steps, runner, out, account_exists) -> None:
    for step in steps:
        if step.unless_account and account_exists(step.unless_account):
            continue
        out("running: " + " ".join(step.argv))
        try:
            result = runner(list(step.argv), check=False)
        except OSError as exc:
            if step.may_fail:
                continue
            raise ServiceError(f"cannot run {step.argv[0]}: {exc}") from exc
        if result.returncode != 0 and not step.may_fail:
            raise ServiceError(f"{' '.join(step.argv)} failed (exit {result.returncode})")


def _account_exists(name: str) -> bool:
    try:
        import pwd

        pwd.getpwnam(name)
        return True
    except (ImportError, KeyError):
        return False


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def describe(plan: Plan) -> list[str]:
    """What ``--dry-run`` prints: every file with its contents, every command."""
    lines = []
    for folder in plan.folders:
        lines.append(f"would create folder {folder} (0700)")
    for source, dest, mode in plan.copies:
        lines.append(f"would copy {source} -> {dest} ({mode:04o})")
    for f in plan.files:
        if f.path.name == "vnc-password":
            lines.append(f"would write {f.path} ({f.mode:04o}): the VNC password")
            continue
        text = f.data.decode("utf-16") if f.data[:2] in (b"\xff\xfe", b"\xfe\xff") else f.data.decode()
        lines += [f"would write {f.path} ({f.mode:04o}):", *("    " + t for t in text.splitlines())]
    for step in (*plan.first_steps, *plan.steps):
        lines.append("would run: " + " ".join(step.argv)
                     + (f"   (if account {step.unless_account} is missing)" if step.unless_account else "")
                     + ("   (may fail)" if step.may_fail else ""))
    for path in plan.removals:
        lines.append(f"would remove {path}")
    for step in plan.after_removal:
        lines.append("would run: " + " ".join(step.argv))
    return lines + list(plan.notes)
