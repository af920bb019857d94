"""The guest's side of a share link (issue 14): its page, "Open", the viewer and its tickets.

``/share/<link>`` carries the link's secret in its path, so its page sends no
Referer at all (``Referrer-Policy: no-referrer``, and the page's own meta), is
never cached, and nothing here logs the path. Pressing "Open" (a POST with the
CSRF token) counts one use and gives this browser a guest cookie
(``guests``); from then on the viewer (``/share/view``) and its tickets
(``/share/session``) need that cookie, not the secret. No route here reads a
login, and no other route reads the guest cookie.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from . import end_reasons, ending, guests, recording, refs, sessions
from .api.occupancy import firm_admits_session
from .auth import ip_key
from .errors import ApiError
from .extensions import db, limiter
from .headers import no_referrer, websocket_url
from .machine_status import statuses
from .models import SessionRecord, ShareLink, utcnow
from .ops import shares
from .terms import SessionTerms

bp = Blueprint("shares", __name__)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return jsonify(error={"code": exc.code, "message": exc.message}), exc.status


def _private(resp):
    """A page or answer about one link: no cache keeps it, no Referer carries its URL away."""
    resp.headers["Cache-Control"] = "no-store"
    no_referrer()  # Talisman writes the header last
    return resp


def _page(link: ShareLink, status: int = 200, error: str = ""):
    resp = make_response(render_template("share/page.html", link=link, error=error,
                                         seconds_left=max(0, int((link.expires_at - utcnow()).total_seconds()))),
                         status)
    return _private(resp)


def _dead(status: int = 404):
    return _private(make_response(render_template("share/dead.html"), status))


@bp.get("/share/<link>")
@limiter.limit("30 per minute", key_func=ip_key)
def page(link: str):
    found = shares.find_by_secret(link)
    if found is None or not shares.backed(found):
        return _dead()
    return _page(found)


@bp.post("/share/<link>")
@limiter.limit("10 per minute", key_func=ip_key)
def open_link(link: str):
    """Count this guest in (once per browser) and send them to the viewer."""
    found = shares.find_by_secret(link)
    if found is None or not shares.backed(found):
        return _dead()
    guest = guests.current_guest()
    if guest is None or guest.link_id != found.id:
        if not shares.take_use(found, ip=request.remote_addr or ""):
            return _page(found, 409, _("Everyone this link was meant for has already opened it."))
        guest = guests.new_guest(found.id)
    resp = _private(redirect(url_for("shares.viewer"), 303))
    guests.set_cookie(resp, guest, int((found.expires_at - utcnow()).total_seconds()))
    return resp


def _guest_link() -> tuple[guests.Guest, ShareLink]:
    """This request's guest and their live link; 401 without a guest cookie, 403 for a dead link."""
    guest = guests.current_guest()
    if guest is None:
        raise ApiError(401, "unauthorized", _("Open the share link again."))
    link = db.session.get(ShareLink, guest.link_id)
    if link is None or not shares.backed(link):
        raise ApiError(403, "forbidden", _("This share link was revoked or has expired."))
    return guest, link


@bp.get("/share/view")
def viewer():
    guest = guests.current_guest()
    link = db.session.get(ShareLink, guest.link_id) if guest is not None else None
    if link is None or not shares.backed(link):
        return _dead(403 if guest is not None else 401)
    return _private(make_response(render_template("share/view.html", link=link, machine=link.machine)))


@bp.post("/share/session")
@limiter.limit("30 per minute", key_func=ip_key)
def open_session():
    """A one-time ticket for this guest's viewer (the same path as a person's, bound to the guest)."""
    guest, link = _guest_link()
    ws_url = websocket_url(current_app.config["PONTE"], "/ws/view")
    left = int((link.expires_at - utcnow()).total_seconds())
    firm_admits_session()   # a guest's session is one of the firm's too (issue 17)
    # Recorded as the PC's policy says (a guest is in no group), and told so, as an employee is.
    record = recording.recording_for(link.machine)
    issued = sessions.issue(guest, link.machine, request.remote_addr or "",
                            SessionTerms(view_only=link.view_only, max_duration=max(1, left), kind="guest",
                                         record=record))
    return _private(make_response(jsonify(session=issued.session, ticket=issued.ticket, ws_url=ws_url,
                                          expires_in=issued.expires_in,
                                          machine={"id": link.machine_id, "name": link.machine.name},
                                          recording={"notice": recording.notice()} if record else None), 201))


@bp.get("/share/session/<session>")
def session_status(session: str):
    """How this guest's session is doing (the viewer asks after a disconnect)."""
    if refs.session_id(session) is None:  # junk is 404 for everyone, as on every route
        raise ApiError(404, "not_found", _("No such session."))
    guest = guests.current_guest()
    if guest is None:
        raise ApiError(401, "unauthorized", _("Open the share link again."))
    live = sessions.live().session(session)
    if live is not None and not ending.is_ending(live) and live.get("share_id") == str(guest.link_id):
        return jsonify(session=session, state=live.get("state", "live"), machine=live.get("machine"),
                       end_reason=None, ended_by=None, reconnect=True)
    record = db.session.get(SessionRecord, session)
    if record is None or record.user_id != 0 or record.user_name != guest.name:
        raise ApiError(404, "not_found", _("No such session."))
    end = ending.seen(record, live)
    link = db.session.get(ShareLink, guest.link_id)
    reconnect = bool(not end.ended or (not end.ended_by and link is not None and shares.backed(link)))
    return jsonify(session=session, state="ended" if end.ended else "live", machine=record.machine_name,
                   end_reason=end_reasons.shown(end.reason) or None,  # stored in English
                   ended_by=end.ended_by or None, reconnect=reconnect)


@bp.get("/share/state")
def state():
    """The shared PC's state in the portal's words (the viewer's ``data-machines`` and ping)."""
    _guest, link = _guest_link()
    status = statuses([link.machine])[0]
    return jsonify(machines=[{**status.public_dict(), "wakeable": False}])

