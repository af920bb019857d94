"""Admin console routes for second factors, on the admin blueprint (its guard applies: an
admin with a recent login): the 2FA policy, who has which factor, and "reset factors"."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..admin import bp
from ..auth import actor, client_ip
from ..extensions import db
from ..models import Group, Passkey, TotpFactor, User
from . import manage, policy
from ..errors import FactorError


def factor_rows() -> list[dict]:
    """Every person with their factors and whether the policy requires one."""
    current = policy.current()
    totp_ids = set(db.session.scalars(select(TotpFactor.user_id).where(TotpFactor.confirmed_at.is_not(None))))
    keys = dict(db.session.execute(select(Passkey.user_id, func.count(Passkey.id)).group_by(Passkey.user_id)).all())
    return [{"user": u, "totp": u.id in totp_ids, "passkeys": keys.get(u.id, 0),
             "required": policy.required_for(u, current)}
            for u in db.session.scalars(select(User).order_by(User.name))]


@bp.get("/factors")
def factor_policy():
    return render_template("admin/factors.html", policy=policy.current(), require=policy.REQUIRE,
                           groups=db.session.scalars(select(Group).order_by(Group.name)).all(), rows=factor_rows())


@bp.post("/factors")
def factor_policy_save():
    try:
        policy.save(request.form.get("require", ""), [g for g in request.form.getlist("group_id") if g.isdigit()],
                    request.form.get("passkey_login") == "1", actor=actor(), ip=client_ip())
    except FactorError as exc:
        flash(str(exc), "error")
    else:
        flash(_("The second-factor policy is saved. It applies from each person's next login."), "ok")
    return redirect(url_for("admin.factor_policy"))


@bp.post("/users/<int:user_id>/factors/reset")
def user_factors_reset(user_id: int):
    """Remove every factor of a person (a lost phone): audited, ends their logins."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, _("No such user."))
    manage.reset(user, actor=actor(), ip=client_ip())
    flash(_("%(name)s's second factors and recovery codes are removed; their logins have ended.", name=user.name),
          "ok")
    return redirect(url_for("admin.factor_policy"))
