"""Authorise a guest's viewer socket: the share-link side of ``pairing.authorise``.

The same rules as a person's, with the guest cookie (``guests``) in place of
the login: Origin checked (by ``pairing.authorise`` before it comes here), the
ticket one-time and short-lived (consumed here, GETDEL), bound to this guest,
and the link read again — revoked, expired, pointing elsewhere, or no longer
backed by its creator's right to share (``ops.shares.backed``): refused.
"""

from __future__ import annotations

from flask import request

from . import sessions
from .extensions import db
from .guests import current_guest
from .models import Machine, ShareLink
from .ops import shares
from .pairing import Viewing, refuse


def authorise_guest(ticket_token: str) -> Viewing:
    guest = current_guest()
    if guest is None:
        refuse(401, "anonymous", "Open the share link again.")
    ticket = sessions.live().consume_ticket(ticket_token)
    if ticket is None:
        refuse(403, "ticket", "This ticket is unknown, used or expired. Open the share link again.")
    if not ticket.guest or ticket.guest != guest.binding or ticket.user_id != 0:
        refuse(403, "ticket_owner", "This ticket belongs to someone else.")
    link = db.session.get(ShareLink, guest.link_id)
    if link is None or link.machine_id != ticket.machine_id or not shares.backed(link):
        refuse(403, "share", "This share link was revoked or has expired.")
    machine = db.session.get(Machine, link.machine_id)
    if machine is None or machine.revoked_at is not None:
        refuse(403, "grant", "This PC can no longer be opened.")
    if ticket.organisation_id != machine.organisation_id:
        refuse(403, "ticket_owner", "This ticket belongs to someone else.")
    return Viewing(ticket.session, guest, machine, request.remote_addr or "", 0, machine.id, ticket.terms,
                   machine.organisation_id)
