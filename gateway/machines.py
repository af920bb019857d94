"""Admin operations on users, machines and grants, shared by CLI, web and API.

Every function audits what it changes and commits. Exceptions::

    AdminError              the change is not possible (names why)
    ├── NotFound
    └── Conflict
    EnrolmentError          an enrolment code was refused
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from .extensions import db
from .live import LiveStoreError
from .models import EnrolmentCode, Grant, Machine, User, audit, find_machine, find_user, utcnow
from .security import hash_password, hash_token, new_enrolment_code, new_token, normalise_code

ENROLMENT_TTL = timedelta(hours=24)
NAME_MAX = 64


class AdminError(Exception):
    """An admin change that cannot be made."""


class NotFound(AdminError):
    pass


class Conflict(AdminError):
    pass


class EnrolmentError(Exception):
    """An enrolment code that is unknown, used or expired."""


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        raise AdminError(f"A name must be 1 to {NAME_MAX} printable characters.")
    return name


def add_user(name: str, password: str, *, admin: bool = False, actor: str = "cli", ip: str = "") -> User:
    name = _check_name(name)
    if find_user(name) is not None:
        raise Conflict(f"User {name!r} exists already.")
    if len(password) < 8:
        raise AdminError("A password needs at least 8 characters.")
    user = User(name=name, password_hash=hash_password(password), is_admin=admin)
    db.session.add(user)
    audit("user_add", actor=actor, ip=ip, target=name, detail="admin" if admin else "")
    db.session.commit()
    return user


def get_user(ref: str | int) -> User:
    user = db.session.get(User, int(ref)) if str(ref).isdigit() else find_user(str(ref))
    if user is None:
        raise NotFound(f"No user {ref!r}.")
    return user


def get_machine(ref: str | int) -> Machine:
    machine = find_machine(ref)
    if machine is None:
        raise NotFound(f"No machine {ref!r}.")
    return machine


def set_password(user: User, password: str, *, actor: str = "cli", ip: str = "") -> None:
    if len(password) < 8:
        raise AdminError("A password needs at least 8 characters.")
    user.password_hash = hash_password(password)
    audit("user_passwd", actor=actor, ip=ip, target=user.name)
    db.session.commit()


def set_disabled(user: User, disabled: bool, *, actor: str = "cli", ip: str = "") -> None:
    user.disabled = disabled
    audit("user_disable" if disabled else "user_enable", actor=actor, ip=ip, target=user.name)
    db.session.commit()
    if disabled:
        _broadcast({"cmd": "end_user", "user_id": user.id, "reason": "Your account was disabled"})


def add_machine(name: str, *, actor: str = "cli", ip: str = "") -> tuple[Machine, str]:
    """A new machine and its one-time enrolment code (shown once, stored hashed)."""
    name = _check_name(name)
    if find_machine(name) is not None and not name.isdigit():
        raise Conflict(f"Machine {name!r} exists already.")
    if name.isdigit():
        raise AdminError("A machine name cannot be only digits (those are ids).")
    machine = Machine(name=name)
    db.session.add(machine)
    db.session.flush()
    code = _new_code(machine)
    audit("machine_add", actor=actor, ip=ip, target=name)
    db.session.commit()
    return machine, code


def new_enrolment(machine: Machine, *, actor: str = "cli", ip: str = "") -> str:
    """A fresh code, e.g. to move the agent to a new PC; older codes stop working."""
    for old in machine.codes:
        if old.used_at is None:
            old.used_at = utcnow()
    code = _new_code(machine)
    audit("machine_code", actor=actor, ip=ip, target=machine.name)
    db.session.commit()
    return code


def _new_code(machine: Machine) -> str:
    code = new_enrolment_code()
    db.session.add(EnrolmentCode(machine_id=machine.id, code_hash=hash_token(normalise_code(code)),
                                 expires_at=utcnow() + ENROLMENT_TTL))
    return code


def enrol_agent(code: str, hostname: str, ip: str) -> tuple[Machine, str]:
    """Swap a one-time code for a new machine credential ``<id>.<secret>``."""
    row = db.session.scalar(select(EnrolmentCode).where(
        EnrolmentCode.code_hash == hash_token(normalise_code(code[:64]))))
    now = utcnow()
    if row is None or row.used_at is not None or row.expires_at < now:
        audit("enrol_refused", ip=ip, detail="unknown, used or expired code")
        db.session.commit()
        raise EnrolmentError("This enrolment code is unknown, used or expired. Ask your admin for a new one.")
    row.used_at = now
    machine = db.session.get(Machine, row.machine_id)
    secret = new_token(32)
    machine.credential_hash = hash_token(secret)
    machine.enrolled_at = now
    machine.revoked_at = None
    audit("enrol", actor=f"agent:{hostname}"[:64], ip=ip, target=machine.name)
    db.session.commit()
    return machine, f"{machine.id}.{secret}"


def revoke_machine(machine: Machine, *, actor: str = "cli", ip: str = "") -> None:
    machine.revoked_at = utcnow()
    audit("machine_revoke", actor=actor, ip=ip, target=machine.name)
    db.session.commit()
    _broadcast({"cmd": "revoke", "machine_id": machine.id, "reason": "This machine was revoked by an admin"})


def grant(user: User, machine: Machine, *, actor: str = "cli", ip: str = "") -> bool:
    exists = db.session.scalar(select(Grant).where(Grant.user_id == user.id, Grant.machine_id == machine.id))
    if exists is not None:
        return False
    db.session.add(Grant(user_id=user.id, machine_id=machine.id))
    audit("grant", actor=actor, ip=ip, target=f"{user.name} → {machine.name}")
    db.session.commit()
    return True


def ungrant(user: User, machine: Machine, *, actor: str = "cli", ip: str = "") -> bool:
    row = db.session.scalar(select(Grant).where(Grant.user_id == user.id, Grant.machine_id == machine.id))
    if row is None:
        return False
    db.session.delete(row)
    audit("ungrant", actor=actor, ip=ip, target=f"{user.name} → {machine.name}")
    db.session.commit()
    return True


def _broadcast(command: dict) -> None:
    """Tell every node (this one included, via Redis) to apply ``command``."""
    hub = current_app.extensions["ponte.hub"]
    try:
        current_app.extensions["ponte.live"].broadcast(command)
    except LiveStoreError:
        # Redis is down: at least act on what this process holds.
        hub.handle_command(command)
