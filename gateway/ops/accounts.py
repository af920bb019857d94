"""People: users, their passwords and logins, groups and group members.

Changes that take access away end the affected live sessions at once, on
whichever node holds them (``sessions``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from flask_babel import gettext as _

from .. import nodebus
from .. import refs
from ..extensions import db
from ..i18n import noop as _n
from ..models import Group, User, audit, find_group, find_user
from ..security import hash_password
from ..errors import AdminError, Conflict, NotFound
from .naming import check_name, check_password, new_name
from .sessions import broadcast, end_sessions_without_access


def get_user(ref: str | int) -> User:
    """A user by id or name, else ``NotFound``."""
    user_id = refs.record_id(ref)
    user = db.session.get(User, user_id) if user_id is not None else find_user(str(ref))
    if user is None:
        raise NotFound(f"No user {str(ref)!r}.")
    return user


def get_group(ref: str | int) -> Group:
    """A group by id or name, else ``NotFound``."""
    group = find_group(ref)
    if group is None:
        raise NotFound(f"No group {str(ref)!r}.")
    return group


# -- users ---------------------------------------------------------------------------------------

def add_user(name: str, password: str, *, admin: bool = False, actor: str = "cli", ip: str = "") -> User:
    name = check_name(name, "A user name")
    if find_user(name) is not None:
        raise Conflict(f"User {name!r} exists already.")
    user = User(name=name, password_hash=hash_password(check_password(password)), is_admin=admin)
    db.session.add(user)
    audit("user_add", actor=actor, ip=ip, target=name, detail="admin" if admin else "")
    db.session.commit()
    return user


def set_password(user: User, password: str, *, actor: str = "cli", ip: str = "") -> None:
    """A new password; every login of the user ends, and their live sessions (stolen cookies too)."""
    user.password_hash = hash_password(check_password(password))
    user.session_epoch = User.session_epoch + 1
    audit("user_passwd", actor=actor, ip=ip, target=user.name)
    db.session.commit()
    broadcast(nodebus.EndUser(user.id, "Your password was changed"))


def end_logins(user: User, reason: str, *, action: str, actor: str = "cli", ip: str = "") -> None:
    """Bump the user's session epoch: every login cookie of theirs stops working, on every node,
    and their live sessions end with ``reason``. Audited as ``action`` (target: the user)."""
    user.session_epoch = User.session_epoch + 1
    audit(action, actor=actor, ip=ip, target=user.name)
    db.session.commit()
    broadcast(nodebus.EndUser(user.id, reason))


def _other_active_admins(user: User) -> int:
    return db.session.scalar(select(func.count(User.id)).where(
        User.is_admin.is_(True), User.disabled.is_(False), User.id != user.id)) or 0


#: What ``_guard_admin_loss`` says when an admin would lock themself out, by the change.
_OWN_ACCOUNT = {
    "disable": _n("You cannot disable your own account; ask another admin."),
    "remove admin rights from": _n("You cannot remove admin rights from your own account; ask another admin."),
    "delete": _n("You cannot delete your own account; ask another admin."),
}


def _guard_admin_loss(user: User, actor: str, what: str) -> None:
    """Refuse changes that lock the actor out, or leave no admin at all."""
    if actor == user.name:
        raise AdminError(_(_OWN_ACCOUNT[what]))
    if user.is_admin and not user.disabled and _other_active_admins(user) == 0:
        raise AdminError(_("%(name)s is the last active admin; make someone else admin first.", name=user.name))


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
        broadcast(nodebus.EndUser(user.id, "Your account was disabled"))


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
    broadcast(nodebus.EndUser(user_id, "Your account was deleted"))


# -- groups --------------------------------------------------------------------------------------

def add_group(name: str, *, actor: str = "cli", ip: str = "") -> Group:
    name = new_name(Group, name)
    group = Group(name=name)
    db.session.add(group)
    audit("group_add", actor=actor, ip=ip, target=name)
    db.session.commit()
    return group


def delete_group(group: Group, *, actor: str = "cli", ip: str = "") -> None:
    name = group.name
    db.session.delete(group)
    audit("group_delete", actor=actor, ip=ip, target=name)
    db.session.commit()
    end_sessions_without_access()


def add_member(group: Group, user: User, *, actor: str = "cli", ip: str = "") -> bool:
    """Put ``user`` in ``group``; False if they were in it already."""
    if user in group.members:
        return False
    group.members.append(user)
    audit("group_member_add", actor=actor, ip=ip, target=f"{user.name} → {group.name}")
    db.session.commit()
    return True


def remove_member(group: Group, user: User, *, actor: str = "cli", ip: str = "") -> bool:
    """Take ``user`` out of ``group`` (ending sessions it gave them); False if they were not in it."""
    if user not in group.members:
        return False
    group.members.remove(user)
    audit("group_member_remove", actor=actor, ip=ip, target=f"{user.name} → {group.name}")
    db.session.commit()
    end_sessions_without_access(user_id=user.id)
    return True
