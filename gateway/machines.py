"""Admin operations on users, groups, machines, grants, tokens and sessions.

Shared by the CLI, the admin pages and the JSON API. Every function audits
what it changes (actor, IP) and commits. Changes that take access away end
the affected live sessions at once, on whichever node holds them.
Exceptions::

    AdminError              the change is not possible (names why)
    ├── NotFound
    └── Conflict
    EnrolmentError          an enrolment code was refused
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from . import nodebus
from . import refs
from . import sessions
from .extensions import db
from .live import LiveStoreError
from .models import (ApiToken, EnrolmentCode, Grant, Group, GroupGrant, Machine, SessionRecord, User, audit,
                     find_group, find_machine, find_user, machine_for_user, utcnow)
from .passwords import password_problem
from .reaper import row_fields
from .security import hash_password, hash_token, new_enrolment_code, new_token, normalise_code

log = logging.getLogger(__name__)

ENROLMENT_TTL = timedelta(hours=24)
NAME_MAX = 64
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
TOKEN_PREFIX = "ponte_"
ACCESS_REMOVED = "Your access to this PC was removed by an admin"


class AdminError(Exception):
    """An admin change that cannot be made."""


class NotFound(AdminError):
    pass


class Conflict(AdminError):
    pass


class EnrolmentError(Exception):
    """An enrolment code that is unknown, used or expired."""


def _check_name(name: str, what: str = "A name") -> str:
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise AdminError(f"{what} must be 1 to {NAME_MAX} printable characters.")
    if name.isdigit():
        raise AdminError(f"{what} cannot be only digits (those are ids).")
    return name


def _check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise AdminError(f"A password needs at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise AdminError(f"A password may have at most {PASSWORD_MAX} characters.")
    problem = password_problem(password)
    if problem:
        raise AdminError(problem)
    return password


# -- lookups -------------------------------------------------------------------------------------

def get_user(ref: str | int) -> User:
    user_id = refs.record_id(ref)
    user = db.session.get(User, user_id) if user_id is not None else find_user(str(ref))
    if user is None:
        raise NotFound(f"No user {str(ref)!r}.")
    return user


def get_machine(ref: str | int) -> Machine:
    machine = find_machine(ref)
    if machine is None:
        raise NotFound(f"No machine {str(ref)!r}.")
    return machine


def get_group(ref: str | int) -> Group:
    group = find_group(ref)
    if group is None:
        raise NotFound(f"No group {str(ref)!r}.")
    return group


def get_token(ref: str | int) -> ApiToken:
    token_id = refs.record_id(ref)
    token = db.session.get(ApiToken, token_id) if token_id is not None else None
    if token is None:
        raise NotFound(f"No API token {str(ref)!r}.")
    return token


# -- users ---------------------------------------------------------------------------------------

def add_user(name: str, password: str, *, admin: bool = False, actor: str = "cli", ip: str = "") -> User:
    name = _check_name(name, "A user name")
    if find_user(name) is not None:
        raise Conflict(f"User {name!r} exists already.")
    user = User(name=name, password_hash=hash_password(_check_password(password)), is_admin=admin)
    db.session.add(user)
    audit("user_add", actor=actor, ip=ip, target=name, detail="admin" if admin else "")
    db.session.commit()
    return user


def set_password(user: User, password: str, *, actor: str = "cli", ip: str = "") -> None:
    """A new password; every login of the user ends, and their live sessions (stolen cookies too)."""
    user.password_hash = hash_password(_check_password(password))
    user.session_epoch = User.session_epoch + 1
    audit("user_passwd", actor=actor, ip=ip, target=user.name)
    db.session.commit()
    _broadcast(nodebus.EndUser(user.id, "Your password was changed"))


def end_logins(user: User, reason: str, *, action: str, actor: str = "cli", ip: str = "") -> None:
    """Bump the user's session epoch: every login cookie of theirs stops working, on every node,
    and their live sessions end with ``reason``. Audited as ``action`` (target: the user)."""
    user.session_epoch = User.session_epoch + 1
    audit(action, actor=actor, ip=ip, target=user.name)
    db.session.commit()
    _broadcast(nodebus.EndUser(user.id, reason))


def _other_active_admins(user: User) -> int:
    return db.session.scalar(select(func.count(User.id)).where(
        User.is_admin.is_(True), User.disabled.is_(False), User.id != user.id)) or 0


def _guard_admin_loss(user: User, actor: str, what: str) -> None:
    """Refuse changes that lock the actor out, or leave no admin at all."""
    if actor == user.name:
        raise AdminError(f"You cannot {what} your own account; ask another admin.")
    if user.is_admin and not user.disabled and _other_active_admins(user) == 0:
        raise AdminError(f"{user.name} is the last active admin; make someone else admin first.")


def set_disabled(user: User, disabled: bool, *, actor: str = "cli", ip: str = "") -> None:
    """Disable (ending the user's live sessions on every node) or enable a user."""
    if disabled == user.disabled:
        return
    if disabled:
        _guard_admin_loss(user, actor, "disable")
    user.disabled = disabled
    if disabled:   # its cookies must stay dead after a later enable
        user.session_epoch = User.session_epoch + 1
    audit("user_disable" if disabled else "user_enable", actor=actor, ip=ip, target=user.name)
    db.session.commit()
    if disabled:
        _broadcast(nodebus.EndUser(user.id, "Your account was disabled"))


def set_admin(user: User, admin: bool, *, actor: str = "cli", ip: str = "") -> None:
    if admin == user.is_admin:
        return
    if not admin:
        _guard_admin_loss(user, actor, "remove admin rights from")
    user.is_admin = admin
    audit("user_admin" if admin else "user_unadmin", actor=actor, ip=ip, target=user.name)
    db.session.commit()


def delete_user(user: User, *, actor: str = "cli", ip: str = "") -> None:
    """Delete a user, their grants, memberships and tokens; history and audit stay."""
    _guard_admin_loss(user, actor, "delete")
    user_id, name = user.id, user.name
    db.session.delete(user)
    audit("user_delete", actor=actor, ip=ip, target=name)
    db.session.commit()
    _broadcast(nodebus.EndUser(user_id, "Your account was deleted"))


# -- groups --------------------------------------------------------------------------------------

def add_group(name: str, *, actor: str = "cli", ip: str = "") -> Group:
    name = _check_name(name, "A group name")
    if find_group(name) is not None:
        raise Conflict(f"Group {name!r} exists already.")
    group = Group(name=name)
    db.session.add(group)
    audit("group_add", actor=actor, ip=ip, target=name)
    db.session.commit()
    return group


def rename_group(group: Group, name: str, *, actor: str = "cli", ip: str = "") -> None:
    name = _check_name(name, "A group name")
    if name == group.name:
        return
    if find_group(name) is not None:
        raise Conflict(f"Group {name!r} exists already.")
    audit("group_rename", actor=actor, ip=ip, target=name, detail=f"was {group.name}")
    group.name = name
    db.session.commit()


def delete_group(group: Group, *, actor: str = "cli", ip: str = "") -> None:
    name = group.name
    db.session.delete(group)
    audit("group_delete", actor=actor, ip=ip, target=name)
    db.session.commit()
    end_sessions_without_access()


def add_member(group: Group, user: User, *, actor: str = "cli", ip: str = "") -> bool:
    if user in group.members:
        return False
    group.members.append(user)
    audit("group_member_add", actor=actor, ip=ip, target=f"{user.name} → {group.name}")
    db.session.commit()
    return True


def remove_member(group: Group, user: User, *, actor: str = "cli", ip: str = "") -> bool:
    if user not in group.members:
        return False
    group.members.remove(user)
    audit("group_member_remove", actor=actor, ip=ip, target=f"{user.name} → {group.name}")
    db.session.commit()
    end_sessions_without_access(user_id=user.id)
    return True


# -- machines ------------------------------------------------------------------------------------

def add_machine(name: str, *, actor: str = "cli", ip: str = "") -> tuple[Machine, str]:
    """A new machine and its one-time enrolment code (shown once, stored hashed)."""
    name = _check_name(name, "A machine name")
    if find_machine(name) is not None:
        raise Conflict(f"Machine {name!r} exists already.")
    machine = Machine(name=name)
    db.session.add(machine)
    db.session.flush()
    code = _new_code(machine)
    audit("machine_add", actor=actor, ip=ip, target=name)
    db.session.commit()
    return machine, code


def rename_machine(machine: Machine, name: str, *, actor: str = "cli", ip: str = "") -> None:
    name = _check_name(name, "A machine name")
    if name == machine.name:
        return
    if find_machine(name) is not None:
        raise Conflict(f"Machine {name!r} exists already.")
    audit("machine_rename", actor=actor, ip=ip, target=name, detail=f"was {machine.name}")
    machine.name = name
    db.session.commit()


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
    if hostname:
        machine.agent_hostname = hostname[:255]
    audit("enrol", actor=f"agent:{hostname}"[:64], ip=ip, target=machine.name)
    db.session.commit()
    return machine, f"{machine.id}.{secret}"


def revoke_machine(machine: Machine, *, actor: str = "cli", ip: str = "") -> None:
    """Revoke the credential: the agent is disconnected and its sessions end, now."""
    machine.revoked_at = utcnow()  # the hash stays, so the agent is told "revoked", not "unknown"
    audit("machine_revoke", actor=actor, ip=ip, target=machine.name)
    db.session.commit()
    _broadcast(nodebus.RevokeMachine(machine.id, "This machine was revoked by an admin"))


def retry_vnc(machine: Machine, *, actor: str = "cli", ip: str = "") -> None:
    """Ask the machine's agent to log in to its VNC server again (after a wrong password
    stopped its tries, and someone fixed the password on the PC)."""
    audit("machine_vnc_retry", actor=actor, ip=ip, target=machine.name)
    db.session.commit()
    _broadcast(nodebus.RetryVnc(machine.id))


def delete_machine(machine: Machine, *, actor: str = "cli", ip: str = "") -> None:
    """Revoke and forget a machine; its history and audit stay."""
    machine_id, name = machine.id, machine.name
    db.session.delete(machine)
    audit("machine_delete", actor=actor, ip=ip, target=name)
    db.session.commit()
    _broadcast(nodebus.RevokeMachine(machine_id, "This machine was removed by an admin"))


# -- grants --------------------------------------------------------------------------------------

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
    end_sessions_without_access(user_id=user.id, machine_id=machine.id)
    return True


def grant_group(group: Group, machine: Machine, *, actor: str = "cli", ip: str = "") -> bool:
    exists = db.session.scalar(select(GroupGrant).where(
        GroupGrant.group_id == group.id, GroupGrant.machine_id == machine.id))
    if exists is not None:
        return False
    db.session.add(GroupGrant(group_id=group.id, machine_id=machine.id))
    audit("grant_group", actor=actor, ip=ip, target=f"group {group.name} → {machine.name}")
    db.session.commit()
    return True


def ungrant_group(group: Group, machine: Machine, *, actor: str = "cli", ip: str = "") -> bool:
    row = db.session.scalar(select(GroupGrant).where(
        GroupGrant.group_id == group.id, GroupGrant.machine_id == machine.id))
    if row is None:
        return False
    db.session.delete(row)
    audit("ungrant_group", actor=actor, ip=ip, target=f"group {group.name} → {machine.name}")
    db.session.commit()
    end_sessions_without_access(machine_id=machine.id)
    return True


# -- API tokens ----------------------------------------------------------------------------------

def create_token(user: User, name: str, *, days: int | None = None, actor: str = "cli",
                 ip: str = "") -> tuple[ApiToken, str]:
    """A bearer token acting as ``user``; the secret is returned once, stored hashed."""
    name = _check_name(name, "A token name") if name and name.strip() else "API token"
    if days is not None and not 1 <= days <= 3650:
        raise AdminError("A token's lifetime must be 1 to 3650 days (or none).")
    secret = TOKEN_PREFIX + new_token(32)
    row = ApiToken(user_id=user.id, name=name, prefix=secret[:len(TOKEN_PREFIX) + 6],
                   token_hash=hash_token(secret), created_by=actor[:64],
                   expires_at=utcnow() + timedelta(days=days) if days else None)
    db.session.add(row)
    audit("token_create", actor=actor, ip=ip, target=user.name, detail=f"{name} ({row.prefix}…)")
    db.session.commit()
    return row, secret


def revoke_token(token: ApiToken, *, actor: str = "cli", ip: str = "") -> bool:
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    audit("token_revoke", actor=actor, ip=ip, target=token.user.name, detail=f"{token.name} ({token.prefix}…)")
    db.session.commit()
    return True


def user_for_token(secret: str) -> tuple[User, ApiToken] | None:
    """The (enabled) user a bearer token acts as, or ``None``."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if row is None or not row.usable or row.user.disabled:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        db.session.commit()
    return row.user, row


# -- live sessions -------------------------------------------------------------------------------

def end_session(session: str, reason: str, *, actor: str = "cli", ip: str = "") -> bool:
    """End a session on whichever node holds it; ``reason`` reaches the viewer.

    A history row still open with nothing live behind it (its node died, or
    Redis lost it) is closed here and now, unless its node is alive, which
    then closes it (``Hub.close_unheld``). False: nothing open by that id.
    """
    if refs.session_id(session) is None:
        return False
    live = current_app.extensions["ponte.live"]
    row = live.session(session)
    record = db.session.get(SessionRecord, session)
    if row is None and (record is None or record.ended_at is not None):
        return False
    reason = (reason or "").strip()[:200] or "Ended by an admin"
    if record is not None and record.ended_at is None:
        record.ended_by = actor[:64]
    machine = row.get("machine", "") if row else record.machine_name
    user = row.get("user", "") if row else record.user_name
    audit("session_end_request", actor=actor, ip=ip, target=machine, detail=f"{session} ({user}): {reason}")
    db.session.commit()
    if row is not None:
        _end_live(session, row.get("node", ""), reason)
        return True
    hub = current_app.extensions["ponte.hub"]
    if hub.end_session(session, reason):
        return True
    if record.node == current_app.config["PONTE"].node_id:
        hub.close_unheld(session, reason)
        return True
    try:
        alive = bool(record.node) and record.node in live.nodes_alive([record.node])
    except LiveStoreError:
        alive = False
    if alive:
        _end_live(session, record.node, reason)  # that node closes the row if it holds nothing
    else:
        sessions.finish(sessions.end_record(session, row_fields(record), to_viewer=record.bytes_to_viewer,
                                           from_viewer=record.bytes_from_viewer, reason=reason))
    return True


def _end_live(session: str, node: str, reason: str) -> None:
    hub = current_app.extensions["ponte.hub"]
    if hub.end_session(session, reason):
        return
    try:
        current_app.extensions["ponte.live"].publish(node, nodebus.EndSession(session, reason))
    except LiveStoreError as exc:
        log.warning("could not ask node %s to end session %s: %s", node, session, exc)


def end_sessions_without_access(*, user_id: int | None = None, machine_id: int | None = None) -> int:
    """End live sessions whose user may no longer open their machine; how many."""
    live = current_app.extensions["ponte.live"]
    try:
        rows = live.live_sessions()
    except LiveStoreError as exc:
        log.warning("live sessions unavailable; ending only this node's: %s", exc)
        hub = current_app.extensions["ponte.hub"]
        rows = [{"id": sid, "user_id": str(r.user_id), "machine_id": str(r.machine_id), "node": ""}
                for sid, r in list(hub.relays.items())]
    ended = 0
    for row in rows:
        try:
            uid, mid = int(row.get("user_id", "")), int(row.get("machine_id", ""))
        except ValueError:
            continue
        if (user_id is not None and uid != user_id) or (machine_id is not None and mid != machine_id):
            continue
        user = db.session.get(User, uid)
        if user is not None and machine_for_user(user, mid) is not None:
            continue
        _end_live(row["id"], row.get("node", ""), ACCESS_REMOVED)
        ended += 1
    return ended


def _broadcast(command: nodebus.Command) -> None:
    """Tell every node (this one included, via Redis) to apply ``command``."""
    hub = current_app.extensions["ponte.hub"]
    try:
        current_app.extensions["ponte.live"].broadcast(command)
    except LiveStoreError:
        # Redis is down: at least act on what this process holds.
        hub.handle_command(command)
