"""Share links to a PC (issue 14): create and list a PC's links, revoke one.

An admin may share any PC (by cookie: with a recent login, as for the admin
API); an employee the PCs granted to them, while the global setting
``share_links`` is on. A link is revoked by its creator or an admin. To
anyone else a PC or a link they may not share is forbidden (a PC) or
missing (a link): the answer does not say whether it exists.
"""

from __future__ import annotations

from flask import current_app, jsonify
from flask_babel import gettext as _
from flask_login import current_user

from .. import ops
from ..auth import ip_key, login_is_recent
from ..errors import ApiError
from ..extensions import limiter
from ..headers import external_url
from ..models import find_machine
from ..ops import shares
from . import REAUTH_MESSAGE, bp, no_store
from .inputs import body, boolean, who


def _shareable(ref: str):
    machine = find_machine(ref)
    user = current_user._get_current_object()
    if machine is None or not shares.may_share(user, machine):
        raise ApiError(403, "forbidden", _("You may not share this PC."))
    if not shares.may_share_as_grantee(user, machine) and not login_is_recent():
        raise ApiError(403, "reauth_required", _(REAUTH_MESSAGE))  # an admin's power, as the admin API
    return machine


def _whole(fields: dict, key: str, default: int) -> int:
    value = fields.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, "bad_request", _("%(field)s must be a whole number.", field=repr(key)))
    return value


@bp.post("/machines/<machine>/shares")
@limiter.limit("20 per minute", key_func=ip_key)
def share_create(machine: str):
    found = _shareable(machine)
    fields = body()
    view_only = boolean(fields, "view_only")
    minutes = _whole(fields, "minutes", shares.DEFAULT_DURATION)
    max_uses = _whole(fields, "max_uses", 1)
    if minutes not in shares.DURATIONS:
        raise ApiError(400, "bad_request", _("A link lasts one of these many minutes: %(choices)s.",
                                             choices=", ".join(map(str, shares.DURATIONS))))
    if not 1 <= max_uses <= shares.MAX_USES:
        raise ApiError(400, "bad_request", _("A link lets in 1 to %(most)d people.", most=shares.MAX_USES))
    base = external_url(current_app.config["PONTE"])  # a foreign Host: 400 before a link is made
    link, secret = shares.create(current_user._get_current_object(), found,
                                 view_only=True if view_only is None else view_only,
                                 minutes=minutes, max_uses=max_uses, **who())
    return no_store(jsonify(share={**shares.as_json(link), "url": f"{base}/share/{secret}"}), 201)


@bp.get("/machines/<machine>/shares")
def share_list(machine: str):
    found = _shareable(machine)
    return jsonify(shares=[shares.as_json(link) for link in shares.links_of(found)])


@bp.delete("/shares/<share>")
def share_revoke(share: str):
    try:
        link = shares.get_link(share)
    except ops.NotFound:
        link = None
    if link is None or not shares.may_revoke(current_user._get_current_object(), link):
        raise ApiError(404, "not_found", _("No such share link."))
    if link.creator_id != current_user.id and not login_is_recent():
        raise ApiError(403, "reauth_required", _(REAUTH_MESSAGE))
    ended = shares.revoke(link, **who())
    return jsonify(share=shares.as_json(link), ended_sessions=ended)
