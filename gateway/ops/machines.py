"""Office PCs: machines, their enrolment codes and credentials, and who may open them (grants).

A grant goes to a user or to a group (``grant``/``ungrant`` take either);
taking one away ends the sessions it allowed, on whichever node holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from .. import nodebus, tenancy
from ..extensions import db
from ..headers import external_url
from ..models import EnrolmentCode, Grant, Group, GroupGrant, Machine, User, audit, find_machine, utcnow
from ..security import hash_token, new_enrolment_code, new_token, normalise_code
from ..errors import EnrolmentError, NotFound
from ..scoping import acting_organisation
from .naming import new_name
from .organisations import organisation_disabled
from .sessions import broadcast, end_sessions_without_access

ENROLMENT_TTL = timedelta(hours=24)


def get_machine(ref: str | int) -> Machine:
    """A machine by id or name, else ``NotFound``."""
    machine = find_machine(ref)
    if machine is None:
        raise NotFound(f"No machine {str(ref)!r}.")
    return machine


def add_machine(name: str, *, actor: str = "cli", ip: str = "") -> tuple[Machine, str]:
    """A new machine and its one-time enrolment code (shown once, stored hashed); ``LimitReached``
    when the firm has as many PCs as its provider allows."""
    from .org_limits import check_pc_limit

    check_pc_limit()
    name = new_name(Machine, name)
    machine = Machine(name=name)
    db.session.add(machine)
    db.session.flush()
    code = _new_code(machine)
    audit("machine_add", actor=actor, ip=ip, target=name)
    db.session.commit()
    return machine, code


def revoke_machine(machine: Machine, *, actor: str = "cli", ip: str = "") -> None:
    """Revoke the credential: the agent is disconnected and its sessions end, now."""
    machine.revoked_at = utcnow()  # the hash stays, so the agent is told "revoked", not "unknown"
    audit("machine_revoke", actor=actor, ip=ip, target=machine.name)
    db.session.commit()
    broadcast(nodebus.RevokeMachine(machine.id, "This machine was revoked by an admin"))


def retry_vnc(machine: Machine, *, actor: str = "cli", ip: str = "") -> None:
    """Ask the machine's agent to log in to its VNC server again (after a wrong password
    stopped its tries, and someone fixed the password on the PC)."""
    audit("machine_vnc_retry", actor=actor, ip=ip, target=machine.name)
    db.session.commit()
    broadcast(nodebus.RetryVnc(machine.id))


def delete_machine(machine: Machine, *, actor: str = "cli", ip: str = "") -> None:
    """Revoke and forget a machine; its history and audit stay."""
    machine_id, name = machine.id, machine.name
    db.session.delete(machine)
    audit("machine_delete", actor=actor, ip=ip, target=name)
    db.session.commit()
    broadcast(nodebus.RevokeMachine(machine_id, "This machine was removed by an admin"))


# -- enrolment -----------------------------------------------------------------------------------

def new_enrolment(machine: Machine, *, actor: str = "cli", ip: str = "") -> str:
    """A fresh code, e.g. to move the agent to a new PC; older codes stop working."""
    for old in machine.codes:
        if old.used_at is None:
            old.used_at = utcnow()
    code = _new_code(machine)
    audit("machine_code", actor=actor, ip=ip, target=machine.name)
    db.session.commit()
    return code


def pending_code_expiry(machine: Machine):
    """When the machine's unused enrolment code expires, or ``None``."""
    now = utcnow()
    live = [c.expires_at for c in machine.codes if c.used_at is None and c.expires_at > now]
    return max(live) if live else None


def enrol_command(code: str) -> str:
    """The line to paste on the PC; 400 when the URL would come from an unlisted Host."""
    url = external_url(current_app.config["PONTE"])
    return f"python -m agents enroll --gateway {url} --code {code}"


def _new_code(machine: Machine) -> str:
    code = new_enrolment_code()
    db.session.add(EnrolmentCode(machine_id=machine.id, code_hash=hash_token(normalise_code(code)),
                                 expires_at=utcnow() + ENROLMENT_TTL))
    return code


def enrol_agent(code: str, hostname: str, ip: str) -> tuple[Machine, str]:
    """Swap a one-time code for a new machine credential ``<id>.<secret>``.

    The code is looked up across organisations (the agent knows no firm): what follows is done
    as the code's organisation."""
    with tenancy.across_organisations():
        row = db.session.scalar(select(EnrolmentCode).where(
            EnrolmentCode.code_hash == hash_token(normalise_code(code[:64]))))
    with tenancy.acting_for(row.organisation_id if row is not None else acting_organisation()):
        return _enrol(row, hostname, ip)


def _enrol(row: EnrolmentCode | None, hostname: str, ip: str) -> tuple[Machine, str]:
    now = utcnow()
    if row is None or row.used_at is not None or row.expires_at < now:
        audit("enrol_refused", ip=ip, detail="unknown, used or expired code")
        db.session.commit()
        raise EnrolmentError("This enrolment code is unknown, used or expired. Ask your admin for a new one.")
    if organisation_disabled(row.organisation_id):
        audit("enrol_refused", ip=ip, target=f"machine:{row.machine_id}", detail="organisation disabled")
        db.session.commit()
        raise EnrolmentError("This organisation's access was suspended by its provider; the code still works "
                             "once it is enabled again.")
    row.used_at = now
    machine = db.session.get(Machine, row.machine_id)
    secret = new_token(32)
    machine.credential_hash = hash_token(secret)
    machine.enrolled_at = now
    machine.revoked_at = None
    if hostname:
        machine.agent_hostname = hostname[:255]
    audit("enrol", actor=f"agent:{hostname}"[:64], ip=ip, target=machine.name)
    db.session.commit()
    return machine, f"{machine.id}.{secret}"


# -- grants --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Grantee:
    """How a grant to a user differs from a grant to a group."""

    model: type            # the grant table
    key: str               # its column naming the holder
    action: str            # audit action: ``grant``/``ungrant`` + this suffix
    label: str             # the holder in the audit target
    affected: dict         # which live sessions to re-check when the grant goes

    @classmethod
    def of(cls, holder: User | Group) -> _Grantee:
        if isinstance(holder, Group):
            return cls(GroupGrant, "group_id", "_group", f"group {holder.name}", {})
        return cls(Grant, "user_id", "", holder.name, {"user_id": holder.id})


def _find_grant(kind: _Grantee, holder: User | Group, machine: Machine):
    model = kind.model
    return db.session.scalar(select(model).where(getattr(model, kind.key) == holder.id,
                                                 model.machine_id == machine.id))


def add_grant(holder: User | Group, machine: Machine, *, actor: str, ip: str) -> bool:
    """The grant and its audit row, not committed (``grant`` and ``ops.bulk`` commit)."""
    kind = _Grantee.of(holder)
    if _find_grant(kind, holder, machine) is not None:
        return False
    db.session.add(kind.model(**{kind.key: holder.id}, machine_id=machine.id))
    audit("grant" + kind.action, actor=actor, ip=ip, target=f"{kind.label} → {machine.name}")
    return True


def drop_grant(holder: User | Group, machine: Machine, *, actor: str, ip: str) -> dict | None:
    """Delete the grant and audit it, not committed; which live sessions to re-check once
    committed (``end_sessions_without_access`` keywords), or None if there was no grant."""
    kind = _Grantee.of(holder)
    row = _find_grant(kind, holder, machine)
    if row is None:
        return None
    db.session.delete(row)
    audit("ungrant" + kind.action, actor=actor, ip=ip, target=f"{kind.label} → {machine.name}")
    return {**kind.affected, "machine_id": machine.id}


def grant(holder: User | Group, machine: Machine, *, actor: str = "cli", ip: str = "") -> bool:
    """Let a user, or every member of a group, open ``machine``; False if they could already."""
    added = add_grant(holder, machine, actor=actor, ip=ip)
    if added:
        db.session.commit()
    return added


def ungrant(holder: User | Group, machine: Machine, *, actor: str = "cli", ip: str = "") -> bool:
    """Take a user's or a group's grant away, ending the sessions it allowed; False if there was none."""
    affected = drop_grant(holder, machine, actor=actor, ip=ip)
    if affected is None:
        return False
    db.session.commit()
    end_sessions_without_access(**affected)
    return True
