"""Durable records (SQLAlchemy 2): users, machines, grants, history, audit."""

from __future__ import annotations

from datetime import datetime, timezone

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    grants: Mapped[list[Grant]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return not self.disabled

    def get_id(self) -> str:
        return str(self.id)


class Machine(db.Model):
    __tablename__ = "machines"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    credential_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    enrolled_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    grants: Mapped[list[Grant]] = relationship(back_populates="machine", cascade="all, delete-orphan")
    codes: Mapped[list[EnrolmentCode]] = relationship(cascade="all, delete-orphan")


class EnrolmentCode(db.Model):
    __tablename__ = "enrolment_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class Grant(db.Model):
    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("user_id", "machine_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id"))

    user: Mapped[User] = relationship(back_populates="grants")
    machine: Mapped[Machine] = relationship(back_populates="grants")


class SessionRecord(db.Model):
    """One viewing session. Names are copied so history outlives deletions."""

    __tablename__ = "session_history"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(default=None)
    user_name: Mapped[str] = mapped_column(String(64))
    machine_id: Mapped[int | None] = mapped_column(default=None)
    machine_name: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    node: Mapped[str] = mapped_column(String(128), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    bytes_to_viewer: Mapped[int] = mapped_column(default=0)
    bytes_from_viewer: Mapped[int] = mapped_column(default=0)
    end_reason: Mapped[str] = mapped_column(String(255), default="")


class AuditEvent(db.Model):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[str] = mapped_column(String(512), default="")


def find_user(name: str) -> User | None:
    return db.session.scalar(select(User).where(User.name == name))


def find_machine(ref: str | int) -> Machine | None:
    """A machine by numeric id or by name."""
    ref = str(ref)
    if ref.isdigit():
        found = db.session.get(Machine, int(ref))
        if found is not None:
            return found
    return db.session.scalar(select(Machine).where(Machine.name == ref))


def granted_machines(user: User) -> list[Machine]:
    stmt = (select(Machine).join(Grant).where(Grant.user_id == user.id)
            .order_by(Machine.name))
    return list(db.session.scalars(stmt))


def machine_for_user(user: User, ref: str | int) -> Machine | None:
    """The machine ``ref`` if ``user`` may open it, else ``None`` (never says which).

    Admins too need a grant: being able to manage a PC is not a reason to see
    its screen.
    """
    machine = find_machine(ref)
    if machine is None or user.disabled:
        return None
    granted = db.session.scalar(select(Grant).where(
        Grant.user_id == user.id, Grant.machine_id == machine.id))
    return machine if granted is not None else None


def audit(action: str, *, actor: str = "", ip: str = "", target: str = "", detail: str = "") -> None:
    """Append an audit event in the caller's transaction."""
    db.session.add(AuditEvent(action=action, actor=actor[:64], ip=ip[:64],
                              target=target[:128], detail=detail[:512]))
