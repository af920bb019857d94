"""Durable records (SQLAlchemy 2): users, groups, machines, grants, tokens, history, audit.

Access rule (one place): ``machine_for_user`` / ``granted_machines``. A user may
open a machine granted to them directly or to a group they belong to; admins
too need a grant, and a disabled user may open nothing.
"""

# Over 300 lines: the tables are one schema — their relationships and the access rule refer to
# each other, and the migrations in gateway/migrations/ are read against this one module.

from __future__ import annotations

import json
from datetime import datetime, timezone

from flask_login import UserMixin
from sqlalchemy import BigInteger, Column, Float, ForeignKey, String, Table, Text, UniqueConstraint, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import refs
from .extensions import db
from .scoping import OrganisationScoped


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# Ids are never reused (AUTOINCREMENT on SQLite; sequences elsewhere): history
# rows keep a deleted user's id, and a new user must not inherit their sessions.
_NO_REUSE = {"sqlite_autoincrement": True}

group_members = Table(
    "group_members", db.metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Organisation(db.Model):
    """A firm served by this Ponte (issue 17): it owns its people, PCs, grants, policies, history
    and audit. Id 1 (slug ``default``) is the single-firm install's, created by the migration.

    ``max_pcs`` / ``max_sessions`` are the provider's limits for the firm; NULL: no limit."""

    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("hostname", name="uq_organisations_hostname"), _NO_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    #: The language of pages shown before anyone of the firm is known (``gateway.i18n.LANGUAGES``).
    language: Mapped[str] = mapped_column(String(8), default="it", server_default="it")
    max_pcs: Mapped[int | None] = mapped_column(default=None)
    max_sessions: Mapped[int | None] = mapped_column(default=None)
    disabled: Mapped[bool] = mapped_column(default=False, server_default="0")
    #: The firm's own host name (``remote.rossi.it``), if it has one: signed-out visitors there
    #: see its login page without ``/o/<slug>/`` (``orgcontext``).
    hostname: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")


DEFAULT_ORGANISATION = 1


class User(OrganisationScoped, UserMixin, db.Model):
    __tablename__ = "users"
    # Names are unique within an organisation (two firms may both have a "reception").
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_users_organisation_name"), _NO_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    #: A provider operator (issue 17; only in the default organisation): sees every firm's figures
    #: and limits on the provider's page, each look audited (``gateway.provider``).
    is_operator: Mapped[bool] = mapped_column(default=False, server_default="0")
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Copied into each login cookie; bumping it ends every login of this person at once
    #: (logout, password change, disable, "log out everywhere"): ``auth.load_user`` compares.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    #: How this person signs in, chosen by the admin: ``local`` (password here), ``ldap``
    #: (the directory checks the password) or ``oidc`` (the company's OpenID provider).
    signin_method: Mapped[str] = mapped_column(String(16), default="local", server_default="local")
    email: Mapped[str] = mapped_column(String(255), default="", server_default="")
    display_name: Mapped[str] = mapped_column(String(128), default="", server_default="")
    #: The language the person chose (``gateway.i18n.LANGUAGES``); empty: the browser's.
    locale: Mapped[str] = mapped_column(String(8), default="", server_default="")

    grants: Mapped[list[Grant]] = relationship(back_populates="user", cascade="all, delete-orphan")
    groups: Mapped[list[Group]] = relationship(secondary=group_members, back_populates="members",
                                               order_by="Group.name")
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return not self.disabled

    def get_id(self) -> str:
        return str(self.id)


class Group(OrganisationScoped, db.Model):
    __tablename__ = "groups"
    # Names are unique within an organisation (two firms may both have a "reception").
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_groups_organisation_name"), _NO_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[User]] = relationship(secondary=group_members, back_populates="groups",
                                               order_by="User.name")
    grants: Mapped[list[GroupGrant]] = relationship(back_populates="group", cascade="all, delete-orphan")


class Machine(OrganisationScoped, db.Model):
    __tablename__ = "machines"
    # Names are unique within an organisation (two firms may both have a "reception").
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_machines_organisation_name"), _NO_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    credential_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    enrolled_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Last known agent facts, kept when the agent goes away (Redis forgets them).
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    agent_os: Mapped[str] = mapped_column(String(128), default="")
    agent_hostname: Mapped[str] = mapped_column(String(255), default="")
    #: The agent's network interfaces as JSON (``wol.Interface.as_dict`` each): the MAC to wake
    #: and the subnets a neighbour must share, still known when the PC is off.
    agent_interfaces: Mapped[str] = mapped_column(Text, default="")

    grants: Mapped[list[Grant]] = relationship(back_populates="machine", cascade="all, delete-orphan")
    group_grants: Mapped[list[GroupGrant]] = relationship(back_populates="machine", cascade="all, delete-orphan")
    codes: Mapped[list[EnrolmentCode]] = relationship(cascade="all, delete-orphan")


class EnrolmentCode(OrganisationScoped, db.Model):
    __tablename__ = "enrolment_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class Grant(OrganisationScoped, db.Model):
    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("user_id", "machine_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id"))

    user: Mapped[User] = relationship(back_populates="grants")
    machine: Mapped[Machine] = relationship(back_populates="grants")


class GroupGrant(OrganisationScoped, db.Model):
    __tablename__ = "group_grants"
    __table_args__ = (UniqueConstraint("group_id", "machine_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id"))

    group: Mapped[Group] = relationship(back_populates="grants")
    machine: Mapped[Machine] = relationship(back_populates="group_grants")


class ApiToken(OrganisationScoped, db.Model):
    """A bearer token for scripts; acts as ``user``. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = _NO_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise it
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())


class SessionRecord(OrganisationScoped, db.Model):
    """One viewing session. Names are copied so history outlives deletions."""

    __tablename__ = "session_history"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(default=None)
    user_name: Mapped[str] = mapped_column(String(64))
    machine_id: Mapped[int | None] = mapped_column(default=None)
    machine_name: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    node: Mapped[str] = mapped_column(String(128), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    bytes_to_viewer: Mapped[int] = mapped_column(default=0)
    bytes_from_viewer: Mapped[int] = mapped_column(default=0)
    end_reason: Mapped[str] = mapped_column(String(255), default="")
    # Who ended it on purpose (an admin, or the user); empty when the link dropped.
    ended_by: Mapped[str] = mapped_column(String(64), default="")
    # How it felt (``quality``; None: not measured). Round trips are the session's medians; the
    # agent hop of a stream that crossed nodes is the sum of both legs (``quality``, ``peering``).
    rtt_viewer_ms: Mapped[int | None] = mapped_column(default=None)
    rtt_agent_ms: Mapped[int | None] = mapped_column(default=None)
    fps: Mapped[float | None] = mapped_column(Float, default=None)
    encoding: Mapped[str] = mapped_column(String(32), default="", server_default="")
    kbps_to_viewer_mean: Mapped[int | None] = mapped_column(default=None)
    kbps_to_viewer_peak: Mapped[int | None] = mapped_column(default=None)
    kbps_from_viewer_mean: Mapped[int | None] = mapped_column(default=None)
    kbps_from_viewer_peak: Mapped[int | None] = mapped_column(default=None)
    # What became of its screen recording ("" none; values: gateway/recording/__init__.py).
    recording: Mapped[str] = mapped_column(String(255), default="", server_default="")


class AuditEvent(OrganisationScoped, db.Model):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[str] = mapped_column(String(512), default="")


def find_user(name: str) -> User | None:
    name = refs.name(name)
    return db.session.scalar(select(User).where(User.name == name)) if name is not None else None


def _find(model, ref: str | int):
    """A row of ``model`` by numeric id or by name (``refs``: junk finds nothing)."""
    record_id = refs.record_id(ref)
    if record_id is not None:
        found = db.session.get(model, record_id)
        if found is not None:
            return found
    name = refs.name(ref)
    return db.session.scalar(select(model).where(model.name == name)) if name is not None else None


def find_machine(ref: str | int) -> Machine | None:
    """A machine by numeric id or by name."""
    return _find(Machine, ref)


def find_group(ref: str | int) -> Group | None:
    """A group by numeric id or by name."""
    return _find(Group, ref)


def _granted_ids(user: User):
    """Ids of machines granted to ``user`` directly or through a group (a subquery)."""
    direct = select(Grant.machine_id).where(Grant.user_id == user.id)
    via_group = (select(GroupGrant.machine_id)
                 .join(group_members, group_members.c.group_id == GroupGrant.group_id)
                 .where(group_members.c.user_id == user.id))
    return direct.union(via_group)


def granted_machines(user: User) -> list[Machine]:
    if user.disabled:
        return []
    stmt = select(Machine).where(Machine.id.in_(_granted_ids(user))).order_by(Machine.name)
    return list(db.session.scalars(stmt))


def machine_for_user(user: User, ref: str | int) -> Machine | None:
    """The machine ``ref`` if ``user`` may open it, else ``None`` (never says which).

    Admins too need a grant: being able to manage a PC is not a reason to see
    its screen. Grants come directly or through one of the user's groups.
    """
    machine = find_machine(ref)
    if machine is None or user.disabled:
        return None
    granted = db.session.scalar(select(Machine.id).where(
        Machine.id == machine.id, Machine.id.in_(_granted_ids(user))))
    return machine if granted is not None else None


def users_with_access(machine: Machine) -> list[User]:
    """Everyone who may open ``machine`` (direct grants and group members)."""
    direct = select(Grant.user_id).where(Grant.machine_id == machine.id)
    via_group = (select(group_members.c.user_id)
                 .join(GroupGrant, GroupGrant.group_id == group_members.c.group_id)
                 .where(GroupGrant.machine_id == machine.id))
    stmt = select(User).where(or_(User.id.in_(direct), User.id.in_(via_group))).order_by(User.name)
    return list(db.session.scalars(stmt))


def note_agent_seen(machine: Machine, info: dict, seen: datetime | None = None) -> None:
    """Keep the last known agent facts on the machine row (caller commits)."""
    machine.last_seen_at = seen or utcnow()
    machine.agent_version = str(info.get("version", machine.agent_version or ""))[:64]
    machine.agent_os = str(info.get("os", machine.agent_os or ""))[:128]
    machine.agent_hostname = str(info.get("hostname", machine.agent_hostname or ""))[:255]
    if "interfaces" in info:  # an agent that cannot read them says (): keep what we knew
        stored = interfaces_json(info["interfaces"])
        if stored != "[]":
            machine.agent_interfaces = stored


def interfaces_json(interfaces) -> str:
    """``wol.Interface`` records as the JSON kept on the machine row and in the live record."""
    return json.dumps([iface.as_dict() for iface in interfaces], separators=(",", ":"))


def stored_interfaces(text: str | None) -> list:
    """The ``wol.Interface`` records in ``interfaces_json`` text; [] for none or anything unreadable."""
    from agents.protocol import wol

    try:
        return [wol.from_dict(item) for item in json.loads(text or "[]")]
    except (ValueError, TypeError):  # WakeError is a ValueError
        return []


def audit(action: str, *, actor: str = "", ip: str = "", target: str = "", detail: str = "",
          organisation_id: int | None = None) -> None:
    """Append an audit event in the caller's transaction: the acting organisation's, or the
    ``organisation_id`` given (a job across organisations says whose row it changed)."""
    db.session.add(AuditEvent(action=action, actor=actor[:64], ip=ip[:64], target=target[:128],
                              detail=detail[:512], organisation_id=organisation_id))


# -- second factor (gateway/factors) --------------------------------------------------------------

class TotpFactor(OrganisationScoped, db.Model):
    """A person's authenticator app (RFC 6238). ``confirmed_at`` is empty while it is being set up.

    ``sealed_secret`` is the base32 seed sealed with a key derived from the instance secret
    (``gateway.sealing``): the gateway must compute codes from it, so it cannot be hashed, but a
    copy of the database alone does not give it away. ``factors.totp`` seals and opens it.
    ``last_step`` is the time step of the last code accepted, so a code is usable once."""

    __tablename__ = "totp_factors"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    sealed_secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_step: Mapped[int] = mapped_column(default=0, server_default="0")


class RecoveryCode(OrganisationScoped, db.Model):
    """A one-time recovery code: argon2 of its secret part; ``hint`` (its first characters) finds
    the row without trying every hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    hint: Mapped[str] = mapped_column(String(8))
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class Passkey(OrganisationScoped, db.Model):
    """A WebAuthn credential (passkey or security key) of a person."""

    __tablename__ = "passkeys"
    __table_args__ = _NO_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)   # base64url
    public_key: Mapped[bytes] = mapped_column(db.LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)   # a 32-bit unsigned counter
    transports: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


factor_policy_groups = Table(
    "factor_policy_groups", db.metadata,
    Column("policy_id", ForeignKey("factor_policy.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)


class FactorPolicy(OrganisationScoped, db.Model):
    """Who must have a second factor (one row, id 1; none means nobody) and whether a passkey
    may replace the password."""

    __tablename__ = "factor_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "off", "everyone", "admins" or "groups" (the members of ``groups``)
    require: Mapped[str] = mapped_column(String(16), default="off")
    passkey_login: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")

    groups: Mapped[list[Group]] = relationship(secondary=factor_policy_groups, order_by="Group.name")


# -- company sign-in and onboarding (gateway/signin/) --------------------------------------------

SIGNIN_METHODS = ("local", "ldap", "oidc")


class Invitation(OrganisationScoped, db.Model):
    """A one-time set-password link: an invitation, or a "forgot password" reset.

    Only the SHA-256 of its token is stored; it works until ``expires_at``, once.
    """

    __tablename__ = "invitations"
    __table_args__ = _NO_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))   # "invite" or "reset"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship()

    @property
    def usable(self) -> bool:
        return self.used_at is None and self.expires_at > utcnow()


# -- policy: who may be on a PC, for how long, when (gateway/policy.py) ---------------------------

POLICY_SCOPES = ("global", "group", "machine")


class PolicyRule(OrganisationScoped, db.Model):
    """One level's policy settings: the global default (one row, ``scope`` "global"), a group's
    or a PC's. A column left NULL is not set at this level (``policy.Rules``); ``hours`` is the
    text ``policy.parse_hours`` reads, "" meaning any time. Deleting the group or PC drops it."""

    __tablename__ = "policy_rules"
    __table_args__ = (UniqueConstraint("organisation_id", "scope", "group_id", "machine_id",
                                       name="uq_policy_rules_organisation_level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), default=None,
                                                 index=True)
    machine_id: Mapped[int | None] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), default=None,
                                                   index=True)
    concurrency: Mapped[str | None] = mapped_column(String(16), default=None)
    idle_timeout: Mapped[int | None] = mapped_column(default=None)    # minutes, 0: off
    max_duration: Mapped[int | None] = mapped_column(default=None)    # minutes, 0: off
    hours: Mapped[str | None] = mapped_column(String(500), default=None)
    file_transfer: Mapped[str | None] = mapped_column(String(16), default=None)  # both/upload/download/none
    record: Mapped[bool | None] = mapped_column(default=None)
    retention_days: Mapped[int | None] = mapped_column(default=None)  # a recording's, 0: forever
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


# -- share links (issue 14): a guest without an account watches or controls a PC for a while -----

class ShareLink(OrganisationScoped, db.Model):
    """A link for guests to one PC: watch only or control, until ``expires_at``, for at most
    ``max_uses`` people, until revoked. Only the SHA-256 of its secret is stored
    (``security.hash_token``): the link itself is shown once, to its creator."""

    __tablename__ = "share_links"
    __table_args__ = _NO_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    #: Names copied, like the history's: the audit and the page outlive renames of the creator.
    creator_id: Mapped[int | None] = mapped_column(default=None)
    creator_name: Mapped[str] = mapped_column(String(64), default="")
    view_only: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    max_uses: Mapped[int] = mapped_column(default=1)
    #: Counted by one conditional UPDATE (``shares.take_use``): two guests racing for the last use, one wins.
    uses: Mapped[int] = mapped_column(default=0, server_default="0")
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str] = mapped_column(String(64), default="")

    machine: Mapped[Machine] = relationship()

    @property
    def live(self) -> bool:
        """Not revoked and not expired: its guests may go on watching (whether uses are left or not)."""
        return self.revoked_at is None and self.expires_at > utcnow()


class GlobalSetting(db.Model):
    """Gateway-wide settings an admin changes at run time, one row per key (e.g. ``share_links``)."""

    __tablename__ = "global_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


# -- the company's name and logo (issue 13) -------------------------------------------------------

class Branding(OrganisationScoped, db.Model):
    """The company's name and logo in the header of every page (one row, id 1; none: Ponte's own).

    The logo is kept here, not on disk, so every gateway node serves the same one."""

    __tablename__ = "branding"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str] = mapped_column(String(80), default="")
    logo: Mapped[bytes | None] = mapped_column(db.LargeBinary, default=None)
    #: the logo's media type, from its first bytes (``image/png``, ``image/jpeg``, ``image/webp``)
    logo_type: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


# -- firms asking for access (issue 17, gateway/signup/) ------------------------------------------

SIGNUP_STATES = ("unconfirmed", "confirmed", "approved", "refused", "expired")


class SignupRequest(db.Model):
    """A firm's request for access from the public sign-up page, until the provider decides.

    ``unconfirmed`` until the address is confirmed through the mailed link (only the link's
    SHA-256 is kept, ``token_hash``, until ``expires_at``), then ``confirmed`` (the provider's
    queue), then ``approved`` (``organisation_id`` is the firm made for it) or ``refused``;
    ``expired`` when the link was never used in time."""

    __tablename__ = "signup_requests"
    __table_args__ = _NO_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_name: Mapped[str] = mapped_column(String(120))
    contact_name: Mapped[str] = mapped_column(String(128))
    email: Mapped[str] = mapped_column(String(254), index=True)
    pcs: Mapped[int] = mapped_column(default=1)
    #: The page's language when sent: the mails, and the new firm's default language.
    language: Mapped[str] = mapped_column(String(8), default="it")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="unconfirmed", index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"),
                                                        default=None)


class OrganisationSignin(OrganisationScoped, db.Model):
    """A firm's own company sign-in (issue 17): its OpenID provider and its LDAP directory, set by
    the provider's operators (``gateway.signin.firms``). The default organisation has no row: its
    sign-in is the gateway's settings (``gateway.toml``), as a single-firm install's always was.

    Empty ``oidc_issuer`` / ``ldap_url``: that method is off for the firm. The client secret and the
    service account's password are sealed (``gateway.sealing``, their own purpose) and never shown."""

    __tablename__ = "organisation_signin"
    __table_args__ = (UniqueConstraint("organisation_id", name="uq_organisation_signin_organisation"), _NO_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    oidc_issuer: Mapped[str] = mapped_column(String(255), default="")
    oidc_client_id: Mapped[str] = mapped_column(String(255), default="")
    oidc_client_secret_sealed: Mapped[str] = mapped_column(Text, default="")
    oidc_label: Mapped[str] = mapped_column(String(80), default="")
    oidc_create_users: Mapped[bool] = mapped_column(default=False)
    #: ``"<claim value> => <Ponte group>"`` entries, one a line (as ``oidc_group_map``).
    oidc_group_map: Mapped[str] = mapped_column(Text, default="")
    ldap_url: Mapped[str] = mapped_column(String(255), default="")
    ldap_starttls: Mapped[bool] = mapped_column(default=False)
    #: A CA bundle on the gateway's disk (every node's): the operator's to choose, hence theirs only.
    ldap_ca_file: Mapped[str] = mapped_column(String(255), default="")
    ldap_bind_dn: Mapped[str] = mapped_column(String(255), default="")
    ldap_bind_password_sealed: Mapped[str] = mapped_column(Text, default="")
    ldap_user_base: Mapped[str] = mapped_column(String(255), default="")
    ldap_user_filter: Mapped[str] = mapped_column(String(255), default="")
    ldap_group_base: Mapped[str] = mapped_column(String(255), default="")
    ldap_disabled_filter: Mapped[str] = mapped_column(String(255), default="")
    #: ``"<directory group DN or cn> => <Ponte group>"`` entries, one a line (as ``ldap_group_map``).
    ldap_group_map: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
