"""What a name or a password must be, and renaming a group or a machine.

Names never hold control characters (``refs.name`` relies on it) and are
never only digits (those are ids: ``<user>`` accepts either).
"""

from __future__ import annotations

from flask_babel import gettext as _

from ..extensions import db
from ..i18n import noop as _n
from ..models import Group, Machine, audit, find_group, find_machine
from ..passwords import password_problem
from ..errors import AdminError, Conflict

NAME_MAX = 64
PASSWORD_MIN = 8
PASSWORD_MAX = 1024

#: The records ``rename`` knows: their finder, what the messages call them, their audit prefix.
_NAMED = {Group: (find_group, "Group", "group"), Machine: (find_machine, "Machine", "machine")}


#: What ``check_name`` says, as whole sentences per kind of name (translated when raised):
#: too long or unprintable, only digits.
_NAME_RULES = {
    "A name": (_n("A name must be 1 to %(max)s printable characters."),
               _n("A name cannot be only digits (those are ids).")),
    "A user name": (_n("A user name must be 1 to %(max)s printable characters."),
                    _n("A user name cannot be only digits (those are ids).")),
    "A group name": (_n("A group name must be 1 to %(max)s printable characters."),
                     _n("A group name cannot be only digits (those are ids).")),
    "A machine name": (_n("A machine name must be 1 to %(max)s printable characters."),
                       _n("A machine name cannot be only digits (those are ids).")),
    "A token name": (_n("A token name must be 1 to %(max)s printable characters."),
                     _n("A token name cannot be only digits (those are ids).")),
}


def check_name(name: str, what: str = "A name") -> str:
    """``name`` stripped, or ``AdminError`` saying what a name must be (in the page's language
    for the kinds of ``_NAME_RULES``; another ``what`` is named in English)."""
    too_long, digits = _NAME_RULES.get(what, (f"{what} must be 1 to %(max)s printable characters.",
                                              f"{what} cannot be only digits (those are ids)."))
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise AdminError(_(too_long, max=NAME_MAX))
    if name.isdigit():
        raise AdminError(_(digits))
    return name


def check_password(password: str) -> str:
    """``password`` if it is long enough and not a known-bad one, else ``AdminError``."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise AdminError(_("A password needs at least %(min)s characters.", min=PASSWORD_MIN))
    if len(password) > PASSWORD_MAX:
        raise AdminError(_("A password may have at most %(max)s characters.", max=PASSWORD_MAX))
    problem = password_problem(password)
    if problem:
        raise AdminError(problem)
    return password


def new_name(model, name: str) -> str:
    """A checked ``name`` no ``model`` record (a Group or a Machine) has yet."""
    find, label, _ = _NAMED[model]
    name = check_name(name, f"A {label.lower()} name")
    if find(name) is not None:
        raise Conflict(f"{label} {name!r} exists already.")
    return name


def rename(record: Group | Machine, name: str, *, actor: str = "cli", ip: str = "") -> None:
    """Rename a group or a machine (audited ``group_rename`` / ``machine_rename``)."""
    _, label, prefix = _NAMED[type(record)]
    if check_name(name, f"A {label.lower()} name") == record.name:
        return
    name = new_name(type(record), name)
    audit(f"{prefix}_rename", actor=actor, ip=ip, target=name, detail=f"was {record.name}")
    record.name = name
    db.session.commit()
