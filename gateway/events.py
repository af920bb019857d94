"""Audit event names (``AuditEvent.action``) in plain words, for the admin pages.

The names themselves stay as they are in the database, the CSV and the API (scripts match
them); pages show these words, translated when read, with the name beside them.
"""

from __future__ import annotations

from flask_babel import gettext

from .i18n import noop as _n

WORDS = {
    "login": _n("Logged in"),
    "login_passkey": _n("Logged in with a passkey"),
    "login_failed": _n("Failed login"),
    "login_second_factor_failed": _n("Wrong second factor at login"),
    "login_throttled": _n("Logins slowed down after failed attempts"),
    "logout": _n("Logged out"),
    "logout_everywhere": _n("Logged out everywhere"),
    "reauth": _n("Confirmed the password"),
    "reauth_failed": _n("Wrong password when confirming"),
    "session_start": _n("Opened a PC"),
    "session_end": _n("A remote session ended"),
    "session_end_request": _n("Ended a remote session"),
    "enrol": _n("A PC's agent enrolled"),
    "enrol_refused": _n("An enrolment was refused"),
    "user_add": _n("Added a user"),
    "user_delete": _n("Deleted a user"),
    "user_disable": _n("Disabled or enabled a user"),
    "user_admin": _n("Changed admin rights"),
    "user_logout": _n("Logged a user out everywhere"),
    "user_passwd": _n("Changed a password"),
    "user_passwd_failed": _n("Wrong current password when changing it"),
    "user_rename": _n("Renamed a user"),
    "user_signin_method": _n("Changed how a user signs in"),
    "group_add": _n("Added a group"),
    "group_delete": _n("Deleted a group"),
    "group_rename": _n("Renamed a group"),
    "group_member_add": _n("Added someone to a group"),
    "group_member_remove": _n("Removed someone from a group"),
    "grant": _n("Granted a PC"),
    "ungrant": _n("Took a PC away"),
    "machine_add": _n("Added a PC"),
    "machine_delete": _n("Deleted a PC"),
    "machine_rename": _n("Renamed a PC"),
    "machine_code": _n("Made an enrolment code"),
    "machine_revoke": _n("Revoked a PC's credential"),
    "machine_vnc_retry": _n("Asked a PC to retry its VNC login"),
    "token_create": _n("Created an API token"),
    "token_revoke": _n("Revoked an API token"),
    "factor_policy": _n("Changed the second-factor policy"),
    "factor_password_failed": _n("Wrong password when changing a second factor"),
    "factor_recovery_new": _n("Made new recovery codes"),
    "invite_link": _n("Made an invitation link"),
    "reset_link": _n("Made a password reset link"),
    "reset_refused": _n("A password reset was refused"),
    "ldap_refused": _n("The company directory refused a login"),
    "ldap_unavailable": _n("The company directory could not be reached"),
    "branding_change": _n("Changed the company name or logo"),
}


def words(action: str) -> str:
    """``action`` in plain words in the page's language; an unknown name as it is."""
    return gettext(WORDS[action]) if action in WORDS else action
