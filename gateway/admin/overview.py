"""The dashboard: counts, machines and their state, live sessions, login attacks, recent audit."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import func, select

from .. import reports
from ..extensions import db
from ..models import AuditEvent, Machine, User
from ..machine_status import statuses
from . import bp


@bp.get("/")
def index():
    machines = list(db.session.scalars(select(Machine).order_by(Machine.name)))
    states = statuses(machines)
    return render_template(
        "admin/index.html",
        user_count=db.session.scalar(select(func.count(User.id))),
        disabled_count=db.session.scalar(select(func.count(User.id)).where(User.disabled.is_(True))),
        machines=list(zip(machines, states)),
        online=sum(1 for s in states if s.online),
        live=reports.live_session_rows(), attacks=reports.login_attack_rows(),
        recent=list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(10))))
