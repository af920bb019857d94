"""The authorisation table: every route of ``app.url_map`` × (anonymous, employee, other employee,
admin, disabled user) × (own object, foreign object, nonexistent id).

``ROUTES`` classifies each endpoint; a route missing from it fails
``test_every_route_is_classified``, so a new route cannot be forgotten. WebSocket
routes are covered by the end-to-end tests (tests/e2e) and only classified here.

Besides status codes, every response to a non-admin is searched for the names
of PCs and the ids of sessions that person may not see, and the admin-managed
tables must be unchanged after a non-admin has tried every route.
"""

from __future__ import annotations

import itertools
from urllib.parse import quote
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from gateway import ops
from gateway.ops import shares
from gateway.extensions import db
from gateway.models import (ApiToken, EnrolmentCode, Grant, Group, GroupGrant, Invitation, Machine,
                            SignupRequest, User, group_members, utcnow)
from tests.support.records import add_live_session, add_recording, session_ref
from tests.support.web import PASSWORDS, AuthActions, csrf_from

PUBLIC, USER, USER_MACHINE, USER_SESSION, OWN_SESSION, ADMIN, WEBSOCKET = (
    "public", "user", "user_machine", "user_session", "own_session", "admin", "websocket")
#: A PC one may share: one's own granted PC (sharing is on in the scene), or any PC for an admin.
SHARE_MACHINE = "share_machine"
#: The provider's operators only (issue 17): none of the actors here is one.
OPERATOR = "operator"


@dataclass(frozen=True)
class Route:
    kind: str
    missing: frozenset = frozenset({"missing"})   # verdicts allowed for a nonexistent id
    denied: frozenset = frozenset({"denied"})     # verdicts allowed when a non-admin tries an admin route


A = Route(ADMIN)
ROUTES: dict[str, Route] = {
    # people log in (issue 17: a firm's own login page, /o/<slug>/login)
    "auth.login": Route(PUBLIC), "auth.org_login": Route(PUBLIC), "auth.logout": Route(USER), "auth.reauth": Route(USER),
    "auth.logout_everywhere": Route(USER),
    # portal
    "portal.index": Route(USER), "portal.view": Route(USER_MACHINE, missing=frozenset({"denied"})),
    "portal.assets": Route(PUBLIC), "portal.novnc": Route(PUBLIC), "portal.healthz": Route(PUBLIC),
    # the metrics token, or a login of the provider's: an admin of the default firm (tests/gateway/test_metrics_access.py)
    "metrics.scrape": Route(ADMIN),
    # WebSockets: tests/e2e
    "ws.view": Route(WEBSOCKET), "ws.agent_control": Route(WEBSOCKET), "ws.agent_stream": Route(WEBSOCKET),
    "ws.agent_files": Route(WEBSOCKET),
    # the employee's API
    "api.me": Route(USER), "api.my_machines": Route(USER),
    "api.open_session": Route(USER_MACHINE, missing=frozenset({"denied"})),
    "api.machine_wake": Route(USER_MACHINE, missing=frozenset({"denied"})),   # issue 11 §5
    # files to and from a granted PC (issue 15)
    **{f"api.{name}": Route(USER_MACHINE, missing=frozenset({"denied"}))
       for name in ("machine_files", "machine_file_upload", "machine_file_download",
                    "machine_file_upload_state", "machine_file_upload_discard")},  # resumable uploads
    "api.session_status": Route(USER_SESSION), "api.end_session": Route(USER_SESSION),
    "api.session_notices": Route(USER_SESSION),   # issue 14: limits drawing near, who else watches
    "api.session_shadow": A,   # issue 14: an admin watches or takes control (audited)
    "api.session_quality": Route(OWN_SESSION),   # issue 14: the viewer's figures, its owner's only
    "api.enroll": Route(PUBLIC),   # agents, with a one-time code
    # the agent's file: no secret in it (gateway/agent_download.py)
    "agent_download.download": Route(PUBLIC), "agent_download.checksum": Route(PUBLIC),
    # the admin API
    **{f"api.{name}": A for name in (
        "live_sessions", "history", "audit_log", "users", "user_create", "user_get", "user_update", "user_delete",
        "groups", "group_create", "group_get", "group_update", "group_delete", "group_member_add",
        "group_member_remove", "machines_list", "machine_create", "machine_get", "machine_update",
        "machine_delete", "machine_enrolment", "machine_revoke", "machine_vnc_retry", "machine_grants",
        "grant_put", "grant_delete", "group_grant_put", "group_grant_delete", "tokens", "token_create",
        "token_revoke", "user_logout", "login_attacks")},
    # issue 13: many grants or group members in one step
    "api.grants_bulk": A, "api.group_members_bulk": A, "admin.users_bulk": A, "admin.machines_bulk": A,
    "admin.settings": A,
    # the admin console
    **{f"admin.{name}": A for name in (
        "index", "users", "user_create", "user", "user_password", "user_disable", "user_enable", "user_admin",
        "user_logout",
        "user_delete", "user_grant", "user_ungrant", "user_group_add", "user_group_remove",
        "groups", "group_create", "group", "group_rename", "group_delete", "group_member_add",
        "group_member_remove", "group_grant", "group_ungrant",
        "machines", "machine_create", "machine", "machine_rename", "machine_code", "machine_revoke",
        "machine_vnc_retry",
        "machine_delete", "machine_grant", "machine_ungrant", "machine_group_grant", "machine_group_ungrant",
        "sessions", "history", "history_csv", "audit", "audit_csv", "tokens", "token_create", "token_revoke")},
    # ending a session that has just ended is not an error: the page says so
    "admin.session_end": Route(ADMIN, missing=frozenset({"allowed"})),
    # shadowing a session that has just ended: the page says so (as ending one)
    "admin.session_watch": Route(ADMIN, missing=frozenset({"allowed"})),
    # issue 12: the own account page and its factors; the steps between password and login
    **{f"account.{name}": Route(USER) for name in (
        "index", "password", "totp_start", "totp_setup", "totp_off", "recovery_new", "recovery_show",
        "passkey_options", "passkey_add", "passkey_rename", "passkey_remove")},
    **{f"second_factor.{name}": Route(PUBLIC) for name in ("second_factor", "passkey_options", "passkey_login")},
    **{f"second_factor.{name}": Route(USER) for name in ("reauth_factor", "reauth_passkey_options",
                                                          "reauth_passkey")},
    "admin.factor_policy": A, "admin.factor_policy_save": A, "admin.user_factors_reset": A,
    "api.my_factors": Route(USER), "api.factor_policy_get": A, "api.factor_policy_put": A,
    "api.user_factors_reset": A,
    # company sign-in and onboarding (gateway/signin/): one-time links, "forgot password"
    "signin.set_password": Route(PUBLIC), "signin.forgot": Route(PUBLIC),
    "signin_oidc.start": Route(PUBLIC), "signin_oidc.callback": Route(PUBLIC),
    **{f"signin_admin.{name}": A for name in ("invite", "user_link", "user_method", "import_people")},
    # issue 13: the page scripts' catalog, and the language switcher (login page and account)
    "i18n.scripts": Route(PUBLIC), "i18n.choose": Route(PUBLIC),
    # issue 14: policy (admins) and taking over a PC in use
    **{f"api.{name}": A for name in ("policy_global", "policy_global_put", "group_policy", "group_policy_put",
                                     "machine_policy", "machine_policy_put")},
    **{f"admin.{name}": A for name in ("policy_page", "policy_save", "group_policy", "group_policy_save",
                                       "machine_policy", "machine_policy_save")},
    "api.machine_takeover": Route(USER_MACHINE, missing=frozenset({"denied"})),
    "api.machine_takeover_status": Route(USER_MACHINE, missing=frozenset({"denied"})),
    "api.session_takeover": Route(USER_SESSION), "api.session_takeover_answer": Route(USER_SESSION),
    # issue 14: share links. A guest's pages take the link's secret or the guest cookie, never a
    # login (tests/gateway/api/test_shares_api.py drives them as a guest); a link is revoked by
    # its creator or an admin, like a session is ended.
    **{f"shares.{name}": Route(PUBLIC) for name in ("page", "open_link", "viewer", "open_session",
                                                    "session_status", "state")},
    "api.share_create": Route(SHARE_MACHINE), "api.share_list": Route(SHARE_MACHINE),
    "api.share_revoke": Route(USER_SESSION),
    "admin.machine_share_create": A, "admin.share_revoke": A, "admin.share_setting": A,
    # issue 13: the company's name and logo; the logo is on the login page, so public
    "admin.branding_page": A, "admin.branding_save": A, "admin.branding_logo_remove": A,
    "branding.logo": Route(PUBLIC),
    # issue 17: the public sign-up of firms (on with the ``signup`` setting: 404 in this scene), the
    # provider's queue of them and its page of organisations (tests/gateway/test_provider.py drives
    # that one as an operator; tests/gateway/signup/ the queue)
    "signup.page": Route(PUBLIC), "signup.confirm": Route(PUBLIC),
    **{f"provider_queue.{name}": Route(OPERATOR) for name in ("signups", "approve", "refuse", "auto")},
    "provider.index": Route(OPERATOR), "provider.limits": Route(OPERATOR),
    # a firm's own sign-in, and disabling a firm (tests/gateway/signin/test_firm_signin.py,
    # tests/gateway/test_firm_disabled.py drive them as an operator)
    "provider.signin_page": Route(OPERATOR), "provider.signin_save": Route(OPERATOR),
    "provider.state": Route(OPERATOR),
    # issue 15: recordings, played and deleted by admins (none of these sessions was recorded: 404)
    **{name: Route(ADMIN, missing=frozenset({"missing"})) for name in (
        "api.recording_get", "api.recording_data", "api.recording_delete",
        "admin.recording_player", "admin.recording_delete")},
}

#: The "person of another organisation" column (issue 17): what a firm's admin or employee gets on
#: each route when the URL names the objects of another firm (``test_another_organisation_…``).
AS_MISSING = "as_missing"   # exactly what a nonexistent id gets: the other firm's object is not there
OWN_ONLY = "own_only"       # no object in the URL: one's own firm's things, never another's
PUBLIC_ONLY = "public"      # anyone's page: anything but a crash, nothing of another firm shown
E2E = "websocket"           # tests/e2e/test_organisations_live.py
PROVIDER_ONLY = "provider_only"   # the provider's, whose figures are every firm's: another firm's admin too is refused
OTHER_ORGANISATION: dict[str, str] = {
    **{name: AS_MISSING for name in (
        "admin.group", "admin.group_delete", "admin.group_grant", "admin.group_member_add",
        "admin.group_member_remove", "admin.group_policy", "admin.group_policy_save", "admin.group_rename",
        "admin.group_ungrant", "admin.machine", "admin.machine_code", "admin.machine_delete", "admin.machine_grant",
        "admin.machine_group_grant", "admin.machine_group_ungrant", "admin.machine_policy",
        "admin.machine_policy_save", "admin.machine_rename", "admin.machine_revoke", "admin.machine_share_create",
        "admin.machine_ungrant", "admin.machine_vnc_retry", "admin.recording_delete", "admin.recording_player",
        "admin.session_end", "admin.session_watch", "admin.share_revoke", "admin.token_revoke", "admin.user",
        "admin.user_admin", "admin.user_delete", "admin.user_disable", "admin.user_enable",
        "admin.user_factors_reset", "admin.user_grant", "admin.user_group_add", "admin.user_group_remove",
        "admin.user_logout", "admin.user_password", "admin.user_ungrant", "api.end_session", "api.grant_delete",
        "api.grant_put", "api.group_delete", "api.group_get", "api.group_grant_delete", "api.group_grant_put",
        "api.group_member_add", "api.group_member_remove", "api.group_policy", "api.group_policy_put",
        "api.group_update", "api.machine_delete", "api.machine_enrolment", "api.machine_file_download",
        "api.machine_file_upload", "api.machine_files", "api.machine_get", "api.machine_grants",
        "api.machine_policy", "api.machine_policy_put", "api.machine_revoke", "api.machine_takeover",
        "api.machine_takeover_status", "api.machine_update", "api.machine_vnc_retry", "api.machine_wake",
        "api.open_session", "api.recording_data", "api.recording_delete", "api.recording_get",
        "api.session_notices", "api.session_quality", "api.session_shadow", "api.session_status",
        "api.session_takeover", "api.session_takeover_answer", "api.share_create", "api.share_list",
        "api.share_revoke", "api.token_revoke", "api.user_delete", "api.user_factors_reset", "api.user_get",
        "api.user_logout", "api.user_update", "portal.view", "shares.session_status", "signin_admin.user_link",
        "signin_admin.user_method", "provider_queue.approve", "provider_queue.refuse", "api.group_members_bulk", "api.machine_file_upload_discard",
        "api.machine_file_upload_state")},
    **{name: OWN_ONLY for name in (
        "account.index", "account.passkey_add", "account.passkey_options", "account.passkey_remove",
        "account.passkey_rename", "account.password", "account.recovery_new", "account.recovery_show",
        "account.totp_off", "account.totp_setup", "account.totp_start", "admin.audit", "admin.audit_csv",
        "admin.branding_logo_remove", "admin.branding_page", "admin.branding_save", "admin.factor_policy",
        "admin.factor_policy_save", "admin.group_create", "admin.groups", "admin.history", "admin.history_csv",
        "admin.index", "admin.machine_create", "admin.machines", "admin.policy_page", "admin.policy_save",
        "admin.sessions", "admin.share_setting", "admin.token_create", "admin.tokens", "admin.user_create",
        "admin.users", "api.audit_log", "api.factor_policy_get", "api.factor_policy_put", "api.group_create",
        "api.groups", "api.history", "api.live_sessions", "api.login_attacks", "api.machine_create",
        "api.machines_list", "api.me", "api.my_factors", "api.my_machines", "api.policy_global",
        "api.policy_global_put", "api.token_create", "api.tokens", "api.user_create", "api.users", "auth.logout",
        "auth.logout_everywhere", "auth.reauth", "portal.index", "second_factor.reauth_factor",
        "second_factor.reauth_passkey", "second_factor.reauth_passkey_options", "signin_admin.import_people",
        "signin_admin.invite", "provider.index", "provider.limits",
        "provider.signin_page", "provider.signin_save", "provider.state",
        "provider_queue.signups", "provider_queue.auto",
        "admin.settings", "admin.users_bulk", "admin.machines_bulk", "api.grants_bulk")},
    **{name: PUBLIC_ONLY for name in (
        "agent_download.checksum", "agent_download.download", "api.enroll", "auth.login", "auth.org_login",
        "branding.logo", "i18n.choose", "i18n.scripts", "portal.assets", "portal.healthz", "portal.novnc",
        "second_factor.passkey_login", "second_factor.passkey_options", "second_factor.second_factor",
        "shares.open_link", "shares.open_session", "shares.page", "shares.state", "shares.viewer", "signin.forgot",
        "signin.set_password", "signin_oidc.callback", "signin_oidc.start", "signup.page", "signup.confirm")},
    **{name: E2E for name in ("ws.agent_control", "ws.agent_files", "ws.agent_stream", "ws.view")},
    "metrics.scrape": PROVIDER_ONLY,
}

#: URL variables and the kind of object they name.
ARGUMENTS = {"machine": "machine", "machine_id": "machine", "user": "user", "user_id": "user",
             "group": "group", "group_id": "group", "session": "session", "session_id": "session",
             "token": "token", "token_id": "token", "filename": "file", "link": "file", "lang": "file",
             "share": "share", "share_id": "share", "signup_id": "signup",
             "transfer": "session",  # a file transfer's id has a session id's shape (WebSocket only)
             "upload": "file",  # the browser's own name for its resumable upload (32 hex digits)
             "slug": "file"}   # an organisation's address (issue 17): not an object of anyone's
FILES = {"portal.assets": "style.css", "portal.novnc": "core/rfb.js", "signin.set_password": "no-such-link",
         "i18n.scripts": "it", "shares.page": "no-such-link", "shares.open_link": "no-such-link",
         "signup.confirm": "no-such-link", "auth.org_login": "no-such-firm",
         "api.machine_file_upload_state": "0" * 32, "api.machine_file_upload_discard": "0" * 32}
MISSING = {"machine": "999999", "user": "999999", "group": "999999", "token": "999999", "session": session_ref("no-such-session"),
           "share": "999999", "signup": "999999"}

ACTORS = ("anonymous", "emp", "other", "admin", "disabled")
OBJECTS = ("own", "foreign", "missing")
LOGIN = {"emp": "emp", "other": "other", "admin": "boss", "disabled": "gone"}


def test_every_route_is_classified(app):
    unknown, mislabelled = [], []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        route = ROUTES.get(rule.endpoint)
        if route is None:
            unknown.append(f"{rule.endpoint} {rule.rule}")
            continue
        if getattr(rule, "websocket", False) != (route.kind == WEBSOCKET):
            mislabelled.append(f"{rule.endpoint}: websocket={getattr(rule, 'websocket', False)}")
        if rule.endpoint.startswith("admin.") and (route.kind != ADMIN or not rule.rule.startswith("/admin/")):
            mislabelled.append(f"{rule.endpoint}: admin console routes are admin-only, under /admin/")
        view = app.view_functions[rule.endpoint]
        if rule.endpoint.startswith("api.") and (getattr(view, "ponte_access", None) == "admin") != (route.kind == ADMIN):
            mislabelled.append(f"{rule.endpoint}: the table and @admin_only disagree")
        for arg in rule.arguments:
            if arg not in ARGUMENTS:
                mislabelled.append(f"{rule.endpoint}: teach ARGUMENTS what <{arg}> names")
    assert not unknown, "routes missing from ROUTES (classify them in tests/gateway/test_authz.py): " + \
        ", ".join(unknown)
    no_column = sorted({r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"} - set(OTHER_ORGANISATION))
    assert not no_column, "routes missing from OTHER_ORGANISATION (the person of another organisation): " + \
        ", ".join(no_column)
    for rule in app.url_map.iter_rules():
        column = OTHER_ORGANISATION.get(rule.endpoint)
        if column == OWN_ONLY and any(ARGUMENTS.get(a) not in (None, "file") for a in rule.arguments):
            mislabelled.append(f"{rule.endpoint}: names an object, so another firm's must be {AS_MISSING}")
        if (column == E2E) != getattr(rule, "websocket", False):
            mislabelled.append(f"{rule.endpoint}: WebSocket routes, and only they, are {E2E}")
    assert not mislabelled, "; ".join(mislabelled)


@dataclass
class Scene:
    """World objects per actor, and what each non-admin must never see."""

    own: dict = field(default_factory=dict)       # actor -> {kind: value}
    foreign: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict)   # actor -> strings that must not appear


def _scene(app, world) -> Scene:
    with app.app_context():
        boss, emp, other = ops.get_user("boss"), ops.get_user("emp"), ops.get_user("other")
        gone = ops.add_user("gone", "gonepass12")
        ops.grant(gone, ops.get_machine("desk-2"))
        floor = ops.add_group("floor")
        ops.add_member(floor, emp)
        tokens = {u.name: ops.create_token(u, f"{u.name}-t", actor="boss")[0].id for u in (emp, other, gone)}
        tokens["boss"] = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == boss.id))
        add_live_session(app, session_ref("live-boss"), boss, ops.get_machine("desk-boss"))
        add_live_session(app, session_ref("live-gone"), gone, ops.get_machine("desk-2"))
        for recorded in (session_ref("live-boss"), session_ref("live-gone"), world.live["emp"], world.live["other"]):
            add_recording(app, recorded)
        ids = {u.name: u.id for u in (boss, emp, other, gone)}
        floor_id = floor.id
        shares.set_sharing(True, actor="boss")
        links = {u.name: shares.create(u, machine, view_only=True, minutes=60, max_uses=1, actor=u.name)[0].id
                 for u, machine in ((boss, ops.get_machine("desk-boss")), (emp, ops.get_machine("desk-1")),
                                    (other, ops.get_machine("desk-3")), (gone, ops.get_machine("desk-2")))}
        ops.set_disabled(gone, True)
        signup = _confirmed_signup("scene")
    m = world.machines
    objects = {
        "emp": {"machine": m["desk-1"], "session": world.live["emp"], "user": ids["emp"],
                "group": floor_id, "token": tokens["emp"], "share": links["emp"],
                "signup": signup},
        "other": {"machine": m["desk-3"], "session": world.live["other"], "user": ids["other"],
                  "group": world.groups["sales"], "token": tokens["other"], "share": links["other"],
                "signup": signup},
        "boss": {"machine": m["desk-boss"], "session": session_ref("live-boss"), "user": ids["boss"],
                 "group": floor_id, "token": tokens["boss"], "share": links["boss"],
                "signup": signup},
        "gone": {"machine": m["desk-2"], "session": session_ref("live-gone"), "user": ids["gone"],
                 "group": floor_id, "token": tokens["gone"], "share": links["gone"],
                "signup": signup},
    }
    scene = Scene()
    sessions_of = {"emp": world.live["emp"], "other": world.live["other"], "boss": session_ref("live-boss"),
                   "gone": session_ref("live-gone")}
    for actor in ACTORS:
        who = LOGIN.get(actor, "emp")
        scene.own[actor] = objects[who]
        scene.foreign[actor] = objects["other" if who == "emp" else "emp"]
        visible_machines = {"emp": {"desk-1"}, "other": {"desk-3"}}.get(actor, set())
        scene.secrets[actor] = ({name for name in m if name not in visible_machines}
                                | {s for owner, s in sessions_of.items() if LOGIN.get(actor) != owner or actor == "disabled"})
    return scene


def _confirmed_signup(name: str) -> int:
    """A firm's request awaiting the provider (issue 17): what the provider's routes act on."""
    row = SignupRequest(firm_name=f"Firm {name}", contact_name="Someone", email=f"{name}@firm.example", pcs=2,
                        status="confirmed", confirmed_at=utcnow(), expires_at=utcnow())
    db.session.add(row)
    db.session.commit()
    return row.id


def _victims(app, n: int) -> dict:
    """Fresh objects for one admin request (so deleting one cannot spoil the next request)."""
    with app.app_context():
        user = ops.add_user(f"victim-{n}", "victimpass1")
        machine, _ = ops.add_machine(f"vpc-{n}")
        group = ops.add_group(f"vgroup-{n}")
        ops.grant(user, machine)
        ops.add_member(group, user)
        ops.grant(group, machine)
        token, _ = ops.create_token(user, "victim", actor="boss")
        add_live_session(app, session_ref(f"vsession-{n}"), user, machine)
        link, _ = shares.create(user, machine, view_only=True, minutes=15, max_uses=1, actor="boss")
        add_recording(app, session_ref(f"vsession-{n}"))
        return {"machine": machine.id, "user": user.id, "group": group.id, "token": token.id,
                "session": session_ref(f"vsession-{n}"), "share": link.id, "signup": _confirmed_signup(f"v{n}")}


def _snapshot(app) -> dict:
    """The admin-managed state a non-admin must never change."""
    with app.app_context():
        def rows(stmt):
            return sorted(tuple(r) for r in db.session.execute(stmt))
        return {
            "users": rows(select(User.id, User.name, User.password_hash, User.is_admin, User.disabled)),
            "machines": rows(select(Machine.id, Machine.name, Machine.credential_hash, Machine.revoked_at)),
            "grants": rows(select(Grant.user_id, Grant.machine_id)),
            "groups": rows(select(Group.id, Group.name)),
            "members": rows(select(group_members.c.group_id, group_members.c.user_id)),
            "group_grants": rows(select(GroupGrant.group_id, GroupGrant.machine_id)),
            "tokens": rows(select(ApiToken.id, ApiToken.user_id, ApiToken.revoked_at)),
            "codes": rows(select(EnrolmentCode.id, EnrolmentCode.used_at)),
            "signin": rows(select(User.id, User.signin_method, User.email)),
            "invitations": rows(select(Invitation.id, Invitation.user_id, Invitation.used_at)),
            "signups": rows(select(SignupRequest.id, SignupRequest.status)),
        }


def verdict(resp) -> str:
    if resp.status_code >= 500:
        return "error"
    location = resp.headers.get("Location", "")
    if resp.status_code == 401 or (resp.status_code == 302 and location.startswith("/login?next=")):
        return "login"
    if resp.status_code == 403:
        return "denied"
    if resp.status_code == 404:
        return "missing"
    return "allowed"


def expected(route: Route, actor: str, obj: str | None) -> frozenset:
    if route.kind == PUBLIC:
        return frozenset({"allowed", "login", "denied", "missing"})   # anything but a crash
    if actor in ("anonymous", "disabled"):
        return frozenset({"login"})
    if route.kind == USER:
        return frozenset({"allowed"})
    if route.kind == USER_MACHINE:
        return frozenset({"allowed"}) if obj == "own" else (route.missing if obj == "missing" else frozenset({"denied"}))
    if route.kind == SHARE_MACHINE:
        return frozenset({"allowed"}) if obj == "own" or (obj == "foreign" and actor == "admin") \
            else frozenset({"denied"})
    if route.kind == USER_SESSION:
        if obj == "own":
            return frozenset({"allowed"})
        if obj == "foreign" and actor == "admin":
            return frozenset({"allowed"})   # admins watch and end everyone's sessions
        return frozenset({"missing"})       # another's session does not exist, as far as you know
    if route.kind == OWN_SESSION:
        return frozenset({"allowed"}) if obj == "own" else frozenset({"missing"})   # admins too
    if route.kind == OPERATOR:
        return frozenset({"denied"})   # admins too: a firm's admin is not the provider
    if route.kind == ADMIN:
        if actor != "admin":
            return route.denied
        return route.missing if obj == "missing" else frozenset({"allowed"})
    raise AssertionError(route.kind)


#: Routes that end the caller's login: driven last, with a new login between them.
ENDS_LOGIN = ("auth.logout", "auth.logout_everywhere")


def _requests(app):
    """(rule, method) for every route we drive here; the logouts last (they end the login)."""
    out = []
    for rule in app.url_map.iter_rules():
        route = ROUTES.get(rule.endpoint)
        if rule.endpoint == "static" or route is None or route.kind == WEBSOCKET:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule, method))
    return sorted(out, key=lambda rm: (rm[0].endpoint in ENDS_LOGIN, rm[0].endpoint, rm[1]))


@pytest.mark.parametrize("actor,obj", list(itertools.product(ACTORS, OBJECTS)))
def test_authorisation_table(app, world, actor, obj):
    scene = _scene(app, world)
    client = app.test_client()
    auth = AuthActions(client)
    if actor == "disabled":
        # logged in while still enabled, then disabled by an admin: the cookie must be worthless
        with app.app_context():
            ops.set_disabled(ops.get_user("gone"), False)
        assert auth.login("gone", "gonepass12").status_code == 302
        with app.app_context():
            ops.set_disabled(ops.get_user("gone"), True)
    elif actor != "anonymous":
        assert auth.login(LOGIN[actor], PASSWORDS[LOGIN[actor]]).status_code == 302
    csrf = auth.csrf or csrf_from(client.get("/login").get_data(as_text=True))
    before = _snapshot(app)
    adapter = app.url_map.bind("localhost")
    problems, victims = [], itertools.count()

    logged_out = False
    for rule, method in _requests(app):
        route = ROUTES[rule.endpoint]
        has_object = any(ARGUMENTS[a] != "file" for a in rule.arguments)
        if not has_object and obj != "own":
            continue   # nothing to be foreign or missing
        if logged_out and actor in LOGIN and actor != "disabled":
            assert auth.login(LOGIN[actor], PASSWORDS[LOGIN[actor]]).status_code == 302
            csrf = auth.csrf
        logged_out = rule.endpoint in ENDS_LOGIN
        if route.kind == ADMIN and actor == "admin" and obj != "missing":
            values = _victims(app, next(victims))
        else:
            values = {"own": scene.own[actor], "foreign": scene.foreign[actor], "missing": MISSING}[obj]
        url_values = {a: FILES[rule.endpoint] if ARGUMENTS[a] == "file" else values[ARGUMENTS[a]]
                      for a in rule.arguments}
        url = adapter.build(rule.endpoint, url_values, method=method)
        if rule.rule.startswith("/api/"):
            resp = client.open(url, method=method, json={} if method != "GET" else None,
                               headers={"X-CSRFToken": csrf})
        else:
            resp = client.open(url, method=method, data={"csrf_token": csrf} if method != "GET" else None)
        got, want = verdict(resp), expected(route, actor, obj if has_object else None)
        if got not in want:
            problems.append(f"{method} {url} [{rule.endpoint}] as {actor}/{obj}: {resp.status_code} "
                            f"({got}), expected {'/'.join(sorted(want))}")
        if actor != "admin":
            # a redirect to the login page echoes the asked-for URL: that reveals nothing
            # (bytes decoded leniently: the agent's download is a zip file)
            body = resp.get_data().decode("utf-8", "replace").replace(url, "").replace(quote(url, safe=""), "")
            leaked = sorted(s for s in scene.secrets[actor] if s in body)
            if leaked:
                problems.append(f"{method} {url} as {actor}/{obj} shows {leaked}")

    assert not problems, "\n".join(problems)
    if actor != "admin":
        assert _snapshot(app) == before, f"{actor} changed admin-managed state"


# -- issue 17: the person of another organisation ------------------------------------------------

#: The other firm's people (distinct names, so a page showing firm A's can be told apart).
FIRM_B = {"slug": "bianchi", "admin": ("b-boss", "bbosspass12"), "emp": ("b-emp", "bemppass12")}


def _firm_b(app) -> int:
    """Firm B: an admin, an employee with a PC of B's granted, a group and an API token of its own."""
    from gateway import tenancy
    from gateway.ops.organisations import create_organisation

    with app.app_context():
        org = create_organisation("Bianchi Srl", slug=FIRM_B["slug"]).id
        with tenancy.acting_for(org):
            boss = ops.add_user(*FIRM_B["admin"], admin=True)
            emp = ops.add_user(*FIRM_B["emp"])
            pc, _ = ops.add_machine("b-pc")
            ops.grant(emp, pc)
            ops.grant(boss, pc)
            ops.add_member(ops.add_group("b-group"), emp)
            ops.create_token(boss, "b-token", actor="b-boss")
    return org


def _live_sessions(app) -> set:
    with app.app_context():
        return {row["id"] for row in app.extensions["ponte.live"].live_sessions()}


@pytest.mark.parametrize("role", ["admin", "emp"])
def test_another_organisation_sees_and_changes_nothing(app, world, role):
    """Firm B's admin (and employee), logged in at B's own address, drive every route with the ids
    of firm A's PCs, people, groups, tokens, sessions and links: each answers as if the id did
    not exist (``OTHER_ORGANISATION``), no page shows A's PC names or session ids, and nothing
    of A's changes (rows, and live sessions in Redis)."""
    scene = _scene(app, world)
    _firm_b(app)
    client = app.test_client()
    auth = AuthActions(client, login_path=f"/o/{FIRM_B['slug']}/login")
    name, password = FIRM_B[role]
    assert auth.login(name, password).status_code == 302
    csrf = auth.csrf
    actor = "admin" if role == "admin" else "emp"
    before, live_before = _snapshot(app), _live_sessions(app)   # no firm chosen: firm A's (the default)
    secrets = set(world.machines) | {world.live["emp"], world.live["other"], session_ref("live-boss"),
                                     session_ref("live-gone")}
    adapter = app.url_map.bind("localhost")
    problems = []
    for rule, method in _requests(app):
        column = OTHER_ORGANISATION[rule.endpoint]
        if rule.endpoint in ENDS_LOGIN:
            continue   # they end B's own login: nothing of A's in them (tested as OWN_ONLY above)
        for owner in ("emp", "boss"):   # an employee's objects of A and its admin's
            values = scene.own[LOGIN.get(owner, owner) if owner != "boss" else "admin"]
            url_values = {a: FILES[rule.endpoint] if ARGUMENTS[a] == "file" else values[ARGUMENTS[a]]
                          for a in rule.arguments}
            url = adapter.build(rule.endpoint, url_values, method=method)
            if rule.rule.startswith("/api/"):
                resp = client.open(url, method=method, json={} if method != "GET" else None,
                                   headers={"X-CSRFToken": csrf})
            else:
                resp = client.open(url, method=method, data={"csrf_token": csrf} if method != "GET" else None)
            got = verdict(resp)
            if column == AS_MISSING:
                want = expected(ROUTES[rule.endpoint], actor, "missing")
            elif column == OWN_ONLY:
                want = expected(ROUTES[rule.endpoint], actor, None)
            elif column == PROVIDER_ONLY:
                want = frozenset({"denied"})
            else:
                want = frozenset({"allowed", "login", "denied", "missing"})
            if got not in want:
                problems.append(f"{method} {url} [{rule.endpoint}] as firm B's {role}: {resp.status_code} "
                                f"({got}), expected {'/'.join(sorted(want))}")
            body = resp.get_data().decode("utf-8", "replace").replace(url, "").replace(quote(url, safe=""), "")
            leaked = sorted(s for s in secrets if s in body)
            if leaked:
                problems.append(f"{method} {url} as firm B's {role} shows firm A's {leaked}")
            if not rule.arguments or all(ARGUMENTS[a] == "file" for a in rule.arguments):
                break   # no object in the URL: once is enough
    assert not problems, "\n".join(problems)
    assert _snapshot(app) == before, f"firm B's {role} changed firm A's state"
    assert _live_sessions(app) >= live_before, f"firm B's {role} ended a session of firm A"
