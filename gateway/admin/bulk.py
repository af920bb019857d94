"""Bulk changes from the users and PCs lists: the people (or PCs) ticked on a page get, or lose,
one PC (or one person or group), or join a group, in one step (``gateway.ops.bulk``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from .. import ops, refs
from ..extensions import db
from ..models import Group, Machine, User
from ..ops import AdminError
from . import bp
from .helpers import form_id, who


def _ticked(model, field: str) -> list:
    """The records whose ids were ticked in ``field`` (unknown ids are ignored: deleted meanwhile)."""
    ids = {refs.record_id(v) for v in request.form.getlist(field)} - {None}
    if not ids:
        raise AdminError(_("Tick at least one row first."))
    return list(db.session.scalars(select(model).where(model.id.in_(ids)).order_by(model.name)))


def _back(endpoint: str):
    """Back to the list as it was: the form sends its address (search, sort, page), which must
    be that list's own, on this site."""
    back, home = request.form.get("back", ""), url_for(endpoint)
    parts = urlsplit(back)
    same_list = not parts.scheme and not parts.netloc and parts.path == home and "\\" not in back
    return redirect(back if same_list else home)


def _said(made: str, kept: str | None) -> None:
    flash(made + (" " + kept if kept else ""), "ok")


@bp.post("/users/bulk")
def users_bulk():
    action = request.form.get("action", "")
    try:
        people = _ticked(User, "user_id")
        if action == "group":
            group = ops.get_group(form_id("group_id"))
            result = ops.bulk_add_members(group, people, **who())
            _said(ngettext("%(num)s person added to %(group)s.", "%(num)s people added to %(group)s.",
                           result.changed, group=group.name),
                  result.unchanged and ngettext("%(num)s was in it already.", "%(num)s were in it already.",
                                                result.unchanged))
        elif action in ("grant", "ungrant"):
            machine = ops.get_machine(form_id("machine_id"))
            if action == "grant":
                result = ops.bulk_grant(people, [machine], **who())
                _said(ngettext("%(num)s more person may now open %(machine)s.",
                               "%(num)s more people may now open %(machine)s.", result.changed, machine=machine.name),
                      result.unchanged and ngettext("%(num)s could already.", "%(num)s could already.",
                                                    result.unchanged))
            else:
                result = ops.bulk_ungrant(people, [machine], **who())
                _said(ngettext("%(num)s person may no longer open %(machine)s.",
                               "%(num)s people may no longer open %(machine)s.", result.changed, machine=machine.name),
                      result.unchanged and ngettext("%(num)s had no direct grant of it.",
                                                    "%(num)s had no direct grant of it.", result.unchanged))
        else:
            raise AdminError(_("Choose what to do with the ticked people."))
    except AdminError as exc:
        flash(str(exc), "error")
    return _back("admin.users")


def _holder(value: str) -> User | Group:
    """``user:<id>`` or ``group:<id>``, as the PCs list's holder menu sends it."""
    kind, _sep, ref = value.partition(":")
    if refs.record_id(ref) is None or kind not in ("user", "group"):
        raise AdminError(_("Choose one from the list first."))
    return ops.get_user(ref) if kind == "user" else ops.get_group(ref)


@bp.post("/machines/bulk")
def machines_bulk():
    action = request.form.get("action", "")
    try:
        machines = _ticked(Machine, "machine_id")
        holder = _holder(request.form.get("holder", ""))
        if action == "grant":
            result = ops.bulk_grant([holder], machines, **who())
            _said(ngettext("%(name)s may now open %(num)s more PC.", "%(name)s may now open %(num)s more PCs.",
                           result.changed, name=holder.name),
                  result.unchanged and ngettext("%(num)s was granted already.", "%(num)s were granted already.",
                                                result.unchanged))
        elif action == "ungrant":
            result = ops.bulk_ungrant([holder], machines, **who())
            _said(ngettext("%(name)s may no longer open %(num)s PC.", "%(name)s may no longer open %(num)s PCs.",
                           result.changed, name=holder.name),
                  result.unchanged and ngettext("%(num)s was not granted directly.",
                                                "%(num)s were not granted directly.", result.unchanged))
        else:
            raise AdminError(_("Choose what to do with the ticked PCs."))
    except AdminError as exc:
        flash(str(exc), "error")
    return _back("admin.machines")
