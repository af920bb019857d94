"""Why a session ended, in the page's language, for the people who read it.

The reason is stored in English — every one the gateway writes, idle timeout and maximum
duration included — (``SessionRecord.end_reason``: the history, its CSV and the
API keep that text, and scripts may match it); pages translate it when they show it. A
reason the gateway writes is known here, whole or by its beginning (the rest — the PC's own
words, an exception's name — is shown as it is); a reason an admin typed is shown as typed.
"""

from __future__ import annotations

import re

from flask_babel import gettext, ngettext

from .i18n import noop as _n
from .peering import PEER_SILENT
from .relay import RESTART_REASON, SILENT
from .sessionclock import MAX_DURATION_REASON
from .sessions import NODE_STOPPED

#: Whole reasons, as ``relay``, ``peering``, ``sessions``, ``ops`` and the views write them.
WHOLE = {
    "viewer closed": _n("The viewer was closed"),
    "ended": _n("The session ended"),
    "The PC closed the connection": _n("The PC closed the connection"),
    "viewer sent an oversized message": _n("The viewer sent a message too large to pass on"),
    "agent sent an oversized message": _n("The PC sent a message too large to pass on"),
    SILENT["agent"]: _n("The PC stopped answering"),
    SILENT["viewer"]: _n("The viewer stopped answering"),
    PEER_SILENT: _n("The gateway node of the viewer stopped answering"),
    NODE_STOPPED: _n("The gateway node running it stopped"),
    RESTART_REASON: _n("The gateway is restarting"),
    "Ended by an admin": _n("Ended by an admin"),
    "Ended by the user": _n("Ended by the user"),
    "Your password was changed": _n("Your password was changed"),
    "An admin logged you out": _n("An admin logged you out"),
    "Your account was disabled": _n("Your account was disabled"),
    "Your account was deleted": _n("Your account was deleted"),
    "Your sign-in settings changed": _n("Your sign-in settings changed"),
    "You logged out": _n("You logged out"),
    "You logged out everywhere": _n("You logged out everywhere"),
    "How you sign in was changed by an admin": _n("How you sign in was changed by an admin"),
    "This machine was revoked by an admin": _n("An admin revoked this PC"),
    "This machine was removed by an admin": _n("An admin removed this PC"),
    # issue 13: the reasons ``sessionclock``, ``ops.sessions`` and the take-over write
    MAX_DURATION_REASON: _n("Maximum session length reached"),
    "Your access to this PC was removed by an admin": _n("Your access to this PC was removed by an admin"),
    "The share link was revoked": _n("The share link was revoked"),   # ops.shares.REVOKED_REASON
    # issue 17: ops.organisations.FIRM_DISABLED
    "Your organisation's access was suspended by its provider":
        _n("Your organisation's access was suspended by its provider"),
}

#: ``sessionclock.end_reasons``' idle timeout, with its number.
IDLE_MINUTES = re.compile(r"Ended after (\d+) minutes? without input")
IDLE_SECONDS = re.compile(r"Ended after (\d+) seconds? without input")

#: Reasons that start with a known sentence and go on with details: (beginning, words with %(detail)s).
BEGINNINGS = (
    ("The PC closed the connection: ", _n("The PC closed the connection: %(detail)s")),
    ("The PC could not start the session: ", _n("The PC could not start the session: %(detail)s")),
    ("connection lost (", _n("The connection was lost (%(detail)s")),
    ("Taken over by ", _n("Taken over by %(detail)s")),   # api/occupancy.TAKEN_OVER
)


def shown(reason: str | None) -> str:
    """``reason`` in the page's language; unknown text (an admin's own words) as it is."""
    reason = reason or ""
    if reason in WHOLE:
        return gettext(WHOLE[reason])
    if match := IDLE_MINUTES.fullmatch(reason):
        return ngettext("Ended after %(num)d minute without input", "Ended after %(num)d minutes without input",
                        int(match.group(1)))
    if match := IDLE_SECONDS.fullmatch(reason):
        return ngettext("Ended after %(num)d second without input", "Ended after %(num)d seconds without input",
                        int(match.group(1)))
    for beginning, words in BEGINNINGS:
        if reason.startswith(beginning):
            return gettext(words, detail=reason[len(beginning):])
    return reason
