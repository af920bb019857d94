"""Reading what a client sent: the JSON body, typed fields, paging; who acts (for the audit)."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _

from .. import refs
from ..auth import actor, client_ip
from ..errors import ApiError

PAGE_MAX = 1000
PAGE_DEFAULT = 200


def body() -> dict:
    """The request's JSON object (``{}`` for no body at all), else 400."""
    found = request.get_json(silent=True)
    if found is None and not request.get_data():
        return {}
    if not isinstance(found, dict):
        raise ApiError(400, "bad_request", _("Send a JSON object."))
    return found


def string(fields: dict, key: str, *, required: bool = True) -> str | None:
    value = fields.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", _("%(field)s must be a string.", field=repr(key)))
    return value


def boolean(fields: dict, key: str) -> bool | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ApiError(400, "bad_request", _("%(field)s must be true or false.", field=repr(key)))
    return value


def page(args) -> tuple[int, int]:
    """``limit`` (1 to ``PAGE_MAX``) and ``offset`` from the query string."""
    limit, offset = refs.record_id(args.get("limit", PAGE_DEFAULT)), refs.record_id(args.get("offset", 0))
    if limit is None or offset is None:
        raise ApiError(400, "bad_request", _("limit and offset must be whole numbers."))
    return min(PAGE_MAX, max(1, limit)), offset


def who() -> dict:
    """The ``actor``/``ip`` keywords every operation audits."""
    return {"actor": actor(), "ip": client_ip()}
