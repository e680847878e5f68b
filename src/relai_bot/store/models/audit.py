"""What staff did (the audit log), the sign-in back-off per client address, and the open back-office sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from relai_bot.store.types import UTCDateTime


class AuditEvent(SQLModel, table=True):
    """One staff action: who, when, what. Never a resident's message body or phone number."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The account that acted (None: someone not signed in, e.g. a failed sign-in, or the command line)
    actor_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff_user.id", ondelete="SET NULL"), index=True)
    )
    # Who it was, as written at the time (the account may be renamed or deleted later)
    actor: str = Field(max_length=254)
    action: str = Field(max_length=40, index=True)
    target: str = Field(default="", max_length=254)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins from one client address and the back-off they earned (accounts keep their own)."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=120)
    failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_failure_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class StaffSession(SQLModel, table=True):
    """A signed-in back-office session. The signed cookie carries a random key, kept here only as its
    SHA-256 hash; signing out deletes the row, so a copy of the cookie taken before is worth nothing."""

    __tablename__ = "staff_session"

    key_hash: str = Field(primary_key=True, max_length=64)
    staff_user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff_user.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
