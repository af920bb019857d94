"""Policy pages: the global default, a group's and a PC's (concurrency, limits, hours, files, recording).

One form per level; an empty field leaves that setting to the next level
(PC → groups → global; ``gateway.policy`` says how several groups combine).
Changes go through ``ops.policy.set_rules`` (audited ``policy_set``).
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import policy
from ..errors import AdminError
from ..ops import policy as policy_ops
from ..policy_status import zone_name
from . import bp
from .helpers import group_or_404, machine_or_404, who


def _number(field: str, wrong: str):
    raw = request.form.get(field, "").strip()
    if raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise AdminError(wrong)
    return int(raw)


def _changes() -> dict:
    concurrency = request.form.get("concurrency", "")
    hours_mode = request.form.get("hours_mode", "")
    minutes = _("Minutes must be a whole number (0: off).")
    return {"concurrency": concurrency or None,
            "idle_timeout": _number("idle_timeout", minutes), "max_duration": _number("max_duration", minutes),
            "hours": {"any": "", "only": request.form.get("hours", "")}.get(hours_mode),
            "file_transfer": request.form.get("file_transfer", "") or None,
            "record": {"on": True, "off": False}.get(request.form.get("record", "")),
            "retention_days": _number("retention_days", _("Days must be a whole number (0: keep for ever)."))}


def _page(target, save_url: str, back: tuple | None):
    rules = policy_ops.get_rules(target)
    return render_template("admin/policy.html", rules=rules, save_url=save_url, back=back,
                           target=target, level=policy_ops.target_name(target).partition(":")[0],
                           hours_text=policy.format_hours(rules.hours) if rules.hours else "",
                           concurrency=policy.CONCURRENCY, file_ways=policy.FILE_TRANSFER, zone=zone_name(),
                           settings=current_app.config["PONTE"])


def _save(target, endpoint: str, **values):
    try:
        policy_ops.set_rules(target, _changes(), **who())
    except AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Policy saved. It applies to sessions opened from now on."), "ok")
    return redirect(url_for(endpoint, **values))


@bp.get("/policy")
def policy_page():
    return _page(None, url_for("admin.policy_save"), None)


@bp.post("/policy")
def policy_save():
    return _save(None, "admin.policy_page")


@bp.get("/groups/<int:group_id>/policy")
def group_policy(group_id: int):
    g = group_or_404(group_id)
    return _page(g, url_for("admin.group_policy_save", group_id=g.id),
                 (url_for("admin.group", group_id=g.id), _("Group %(group)s", group=g.name)))


@bp.post("/groups/<int:group_id>/policy")
def group_policy_save(group_id: int):
    return _save(group_or_404(group_id), "admin.group_policy", group_id=group_id)


@bp.get("/machines/<int:machine_id>/policy")
def machine_policy(machine_id: int):
    m = machine_or_404(machine_id)
    return _page(m, url_for("admin.machine_policy_save", machine_id=m.id),
                 (url_for("admin.machine", machine_id=m.id), m.name))


@bp.post("/machines/<int:machine_id>/policy")
def machine_policy_save(machine_id: int):
    return _save(machine_or_404(machine_id), "admin.machine_policy", machine_id=machine_id)
