"""Audit events (``AuditEvent``) in plain words, for the admin pages.

The names themselves stay as they are in the database, the CSV and the API (scripts match
them); pages show these words, translated when read, with the name beside them: ``WORDS``
names an action (the audit filter's menu), ``SENTENCES`` tells one event ("emp opened
desk-1"), ``who`` explains an actor that is not a person (``agent:<host>``, ``cli``...).
tests/gateway/test_events.py fails when an action written anywhere in gateway/ has no words.
"""

from __future__ import annotations

import re

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
    # Written by code that WORDS had not caught up with (issue 13: every action has words).
    "user_enable": _n("Enabled a user"),
    "user_unadmin": _n("Took admin rights away"),
    "grant_group": _n("Granted a PC to a group"),
    "ungrant_group": _n("Took a PC away from a group"),
    "machine_wake": _n("Woke a PC up"),
    "session_shadow": _n("Watched or took control of a session"),
    "session_takeover": _n("Took over a PC in use"),
    "session_takeover_accepted": _n("Let someone take over the PC"),
    "session_takeover_refused": _n("Refused to hand over the PC"),
    "factor_reset": _n("Reset a user's second factors"),
    "factor_totp_on": _n("Turned on an authenticator app"),
    "factor_totp_off": _n("Turned off the authenticator app"),
    "factor_passkey_add": _n("Added a passkey"),
    "factor_passkey_remove": _n("Removed a passkey"),
    "setting_change": _n("Changed a setting"),
    "share_create": _n("Made a share link"),
    "share_use": _n("A guest used a share link"),
    "share_revoke": _n("Revoked a share link"),
    "recording_delete": _n("Deleted a session recording"),
    "policy_set": _n("Changed the session policy"),
    "organisation_created": _n("Created an organisation"),
    "file.upload": _n("Sent a file to a PC"),
    "file.download": _n("Fetched a file from a PC"),
    "recording_export": _n("Exported a session recording to a video file"),
    "provider_view": _n("Looked at every organisation"),
    "organisation_limits": _n("Changed an organisation's limits"),
    "operator_on": _n("Made someone a provider operator"),
    "operator_off": _n("Took the provider operator role away"),
    "signup_confirmed": _n("A firm confirmed its request for access"),
    "signup_approved": _n("Approved a firm's request for access"),
    "signup_refused": _n("Refused a firm's request for access"),
    "organisation_signin": _n("Changed an organisation's company sign-in"),
    "organisation_disabled": _n("Disabled an organisation"),
    "organisation_enabled": _n("Enabled an organisation again"),
    "organisation_hostname": _n("Changed an organisation's host name"),
}

#: One event as a sentence: ``%(actor)s`` (``who``), ``%(target)s``; for targets written
#: "<a> → <b>" (grants, group members) also ``%(a)s`` and ``%(b)s``.
SENTENCES = {
    "login": _n("%(actor)s logged in"),
    "login_passkey": _n("%(actor)s logged in with a passkey"),
    "login_failed": _n("%(actor)s failed to log in"),
    "login_second_factor_failed": _n("%(actor)s gave a wrong second factor at login"),
    "login_throttled": _n("Logins as %(target)s were slowed down after failed attempts"),
    "logout": _n("%(actor)s logged out"),
    "logout_everywhere": _n("%(actor)s logged out on every browser"),
    "reauth": _n("%(actor)s confirmed their password"),
    "reauth_failed": _n("%(actor)s gave a wrong password when confirming it"),
    "session_start": _n("%(actor)s opened %(target)s"),
    "session_end": _n("The session of %(actor)s on %(target)s ended"),
    "session_end_request": _n("%(actor)s ended a session on %(target)s"),
    "session_shadow": _n("%(actor)s watched or took control of a session on %(target)s"),
    "session_takeover": _n("%(actor)s took over %(target)s from whoever was using it"),
    "session_takeover_accepted": _n("%(actor)s let someone take over %(target)s"),
    "session_takeover_refused": _n("%(actor)s refused to hand over %(target)s"),
    "enrol": _n("%(actor)s enrolled as %(target)s"),
    "enrol_refused": _n("%(actor)s tried to enrol a PC with a wrong code"),
    "user_add": _n("%(actor)s added the user %(target)s"),
    "user_delete": _n("%(actor)s deleted the user %(target)s"),
    "user_disable": _n("%(actor)s disabled %(target)s"),
    "user_enable": _n("%(actor)s enabled %(target)s"),
    "user_admin": _n("%(actor)s made %(target)s an admin"),
    "user_unadmin": _n("%(actor)s took admin rights away from %(target)s"),
    "user_logout": _n("%(actor)s logged %(target)s out everywhere"),
    "user_passwd": _n("%(actor)s changed the password of %(target)s"),
    "user_passwd_failed": _n("%(actor)s gave a wrong current password when changing it"),
    "user_rename": _n("%(actor)s renamed a user to %(target)s"),
    "user_signin_method": _n("%(actor)s changed how %(target)s signs in"),
    "group_add": _n("%(actor)s added the group %(target)s"),
    "group_delete": _n("%(actor)s deleted the group %(target)s"),
    "group_rename": _n("%(actor)s renamed a group to %(target)s"),
    "group_member_add": _n("%(actor)s added %(a)s to the group %(b)s"),
    "group_member_remove": _n("%(actor)s removed %(a)s from the group %(b)s"),
    "grant": _n("%(actor)s let %(a)s open %(b)s"),
    "grant_group": _n("%(actor)s let the %(a)s open %(b)s"),
    "ungrant": _n("%(actor)s took %(b)s away from %(a)s"),
    "ungrant_group": _n("%(actor)s took %(b)s away from the %(a)s"),
    "machine_add": _n("%(actor)s added the PC %(target)s"),
    "machine_delete": _n("%(actor)s deleted the PC %(target)s"),
    "machine_rename": _n("%(actor)s renamed a PC to %(target)s"),
    "machine_code": _n("%(actor)s made an enrolment code for %(target)s"),
    "machine_revoke": _n("%(actor)s revoked the credential of %(target)s"),
    "machine_vnc_retry": _n("%(actor)s asked %(target)s to retry its VNC login"),
    "machine_wake": _n("%(actor)s woke %(target)s up"),
    "token_create": _n("%(actor)s created an API token for %(target)s"),
    "token_revoke": _n("%(actor)s revoked an API token of %(target)s"),
    "factor_policy": _n("%(actor)s changed the second-factor policy"),
    "factor_password_failed": _n("%(actor)s gave a wrong password when changing a second factor"),
    "factor_recovery_new": _n("%(actor)s made new recovery codes"),
    "factor_reset": _n("%(actor)s reset the second factors of %(target)s"),
    "factor_totp_on": _n("%(actor)s turned on an authenticator app"),
    "factor_totp_off": _n("%(actor)s turned off their authenticator app"),
    "factor_passkey_add": _n("%(actor)s added a passkey"),
    "factor_passkey_remove": _n("%(actor)s removed a passkey"),
    "invite_link": _n("%(actor)s made an invitation link for %(target)s"),
    "reset_link": _n("%(actor)s made a password reset link for %(target)s"),
    "reset_refused": _n("A password reset for %(target)s was refused"),
    "ldap_refused": _n("The company directory refused the login of %(target)s"),
    "ldap_unavailable": _n("The company directory could not be reached for the login of %(target)s"),
    "branding_change": _n("%(actor)s changed the company name or logo"),
    "setting_change": _n("%(actor)s changed the setting %(target)s"),
    "share_create": _n("%(actor)s made a share link for %(target)s"),
    "share_use": _n("%(actor)s opened %(target)s"),
    "share_revoke": _n("%(actor)s revoked a share link for %(target)s"),
    "recording_delete": _n("%(actor)s deleted a recording of a session on %(target)s"),
    "policy_set": _n("%(actor)s changed the session policy of %(target)s"),
    "organisation_created": _n("%(actor)s created the organisation %(target)s"),
    "file.upload": _n("%(actor)s sent a file to %(target)s"),
    "file.download": _n("%(actor)s fetched a file from %(target)s"),
    "recording_export": _n("%(actor)s exported a recording of a session on %(target)s to a video file"),
    "provider_view": _n("%(actor)s looked at the list of every organisation"),
    "organisation_limits": _n("%(actor)s changed the limits of %(target)s"),
    "operator_on": _n("%(actor)s made %(target)s a provider operator"),
    "operator_off": _n("%(actor)s took the provider operator role from %(target)s"),
    "signup_confirmed": _n("A firm confirmed its request for access (%(target)s)"),
    "signup_approved": _n("%(actor)s approved the request for access %(target)s"),
    "signup_refused": _n("%(actor)s refused the request for access %(target)s"),
    "organisation_signin": _n("%(actor)s changed the company sign-in of %(target)s"),
    "organisation_disabled": _n("%(actor)s disabled %(target)s: its logins and sessions ended"),
    "organisation_enabled": _n("%(actor)s enabled %(target)s again"),
    "organisation_hostname": _n("%(actor)s changed the host name of %(target)s"),
}

#: Actors that are not a person: who they are, in words.
ACTORS = {
    "": _n("Someone not logged in"),
    "cli": _n("An operator on the gateway's command line"),
    "retention": _n("The automatic clean-up (retention period)"),
    "system": _n("Ponte itself"),
    "ldap": _n("The company directory (LDAP)"),
    "oidc": _n("The company sign-in (OIDC)"),
}
_AGENT = re.compile(r"agent:(.*)", re.S)
_GUEST = re.compile(r"guest of link (\d+)")


def who(actor: str | None) -> str:
    """``actor`` in words: a person's name as it is; an agent, the command line, an automatic
    job, a guest of a share link explained."""
    actor = actor or ""
    if actor in ACTORS:
        return gettext(ACTORS[actor])
    if match := _AGENT.fullmatch(actor):
        return gettext("The agent on %(host)s", host=match.group(1) or "?")
    if match := _GUEST.fullmatch(actor):
        return gettext("A guest of share link %(link)s", link=match.group(1))
    return actor


def sentence(action: str, actor: str | None, target: str | None) -> str:
    """One audit event as a sentence in the page's language; an unknown action by its name."""
    if action not in SENTENCES:
        return f"{who(actor)}: {words(action)}"
    target = target or ""
    a, _arrow, b = target.partition(" → ")
    if action.endswith("_group") and a.startswith("group "):   # "group sales → desk-1"
        a = gettext("group %(group)s", group=a[len("group "):])
    return gettext(SENTENCES[action], actor=who(actor), target=target or "—", a=a, b=b or "—")




def words(action: str) -> str:
    """``action`` in plain words in the page's language; an unknown name as it is."""
    return gettext(WORDS[action]) if action in WORDS else action
