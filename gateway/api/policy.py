"""Policy settings (admins): the global default, a group's, a PC's (``gateway.policy``).

``GET`` answers what is set at that level (``null``: not set here, the next level
decides); ``PUT`` changes the fields it names — ``concurrency`` (``exclusive``,
``shared``, ``view_only_join``), ``idle_timeout`` and ``max_duration`` in minutes
(0: off), ``hours`` as text (``Mon-Fri 08:00-19:00``; "" any time), ``file_transfer``
(``both``, ``upload``, ``download``, ``none``), ``record`` (true/false), ``retention_days``
(a recording's, 0: for ever) — and ``null`` unsets one (below the global level: the
gateway's settings). Writes are audited (``policy_set``) and apply to sessions opened afterwards.
"""

from __future__ import annotations

from flask import jsonify

from .. import ops, policy
from ..ops import policy as policy_ops
from . import admin_only, bp
from .inputs import body, who


def policy_json(rules: policy.Rules, scope: str) -> dict:
    return {"scope": scope, "concurrency": rules.concurrency, "idle_timeout": rules.idle_timeout,
            "max_duration": rules.max_duration,
            "hours": None if rules.hours is None else policy.format_hours(rules.hours),
            "file_transfer": rules.file_transfer, "record": rules.record, "retention_days": rules.retention_days}


def _put(target, scope: str):
    fields = body()
    changes = {k: v for k, v in fields.items()}
    rules = policy_ops.set_rules(target, changes, **who())
    return jsonify(policy=policy_json(rules, scope))


@bp.get("/policy")
@admin_only
def policy_global():
    return jsonify(policy=policy_json(policy_ops.get_rules(None), "global"))


@bp.put("/policy")
@admin_only
def policy_global_put():
    return _put(None, "global")


@bp.get("/groups/<group>/policy")
@admin_only
def group_policy(group: str):
    return jsonify(policy=policy_json(policy_ops.get_rules(ops.get_group(group)), "group"))


@bp.put("/groups/<group>/policy")
@admin_only
def group_policy_put(group: str):
    return _put(ops.get_group(group), "group")


@bp.get("/machines/<machine>/policy")
@admin_only
def machine_policy(machine: str):
    return jsonify(policy=policy_json(policy_ops.get_rules(ops.get_machine(machine)), "machine"))


@bp.put("/machines/<machine>/policy")
@admin_only
def machine_policy_put(machine: str):
    return _put(ops.get_machine(machine), "machine")
