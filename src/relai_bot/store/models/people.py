"""Residents, their channel addresses, districts, advisers and staff."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from relai_bot.store.types import UTCDateTime


class District(SQLModel, table=True):
    __tablename__ = "district"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True, index=True)
    name: str = Field(max_length=120)
    qpv: bool = False
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    lat: float | None = None
    lon: float | None = None


class Resident(SQLModel, table=True):
    """A person, reachable at one or more channel addresses. Exists only once they consented."""

    __tablename__ = "resident"

    id: int | None = Field(default=None, primary_key=True)
    display_name: str | None = Field(default=None, max_length=120)
    district_id: int | None = Field(default=None, foreign_key="district.id", index=True)
    language: str = Field(default="fr", max_length=8)
    age_bracket: str | None = Field(default=None, max_length=8)
    situation: str | None = Field(default=None, max_length=40)
    # What they want first (the questionnaire's goal: emploi, formation, entreprise…), kept once answered
    goal: str | None = Field(default=None, max_length=40)
    consent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    opportunities: bool = False
    opportunities_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    stopped_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    unreachable_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # A test resident (the back-office's simulator): left out of broadcasts, statistics and reminders
    test: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class ChannelAddress(SQLModel, table=True):
    """Where a resident can be reached: a Telegram chat id, an E.164 phone number, a console name."""

    __tablename__ = "channel_address"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_channel_address"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    unreachable_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Consecutive delivery failures that may mean "unreachable" when repeated (SMS 30003, 30005, 30006)
    failures: int = 0


class Adviser(SQLModel, table=True):
    __tablename__ = "adviser"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True, index=True)
    name: str = Field(max_length=120)
    organisation: str = Field(max_length=160)
    active: bool = True
    # The private calendar feed (ICS): the SHA-256 of the secret token in its URL; None: no feed
    ics_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    ics_token_created_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class StaffUser(SQLModel, table=True):
    """A person of the commune or a partner who works with the back-office (roles: admin, staff, adviser).

    `login` is the person's e-mail address for the accounts made from the back-office and the CLI (lower case);
    the demo data's placeholder accounts keep short logins and no password, so nobody can sign in with them."""

    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=120)
    role: str = Field(max_length=16)
    adviser_id: int | None = Field(default=None, foreign_key="adviser.id")
    password_hash: str | None = Field(default=None, max_length=255)
    active: bool = True
    # Set by an administrator's reset (a one-time password): the next sign-in must choose a new password
    must_change_password: bool = False
    # Consecutive failed sign-ins and the back-off they earned (reset by a successful sign-in)
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    password_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_login_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The staff member's own Telegram chat, linked by a one-time code (/lier), for /diffuser
    telegram_chat_id: str | None = Field(default=None, max_length=64, unique=True)
    telegram_linked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The pending link code, as a SHA-256 hash, and when it stops working
    telegram_link_code: str | None = Field(default=None, max_length=64)
    telegram_link_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class StaffDistrict(SQLModel, table=True):
    """The districts a staff member works for (broadcasts, residents, call-backs)."""

    __tablename__ = "staff_district"

    staff_user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True)
    )
    district_id: int = Field(sa_column=Column(Integer, ForeignKey("district.id", ondelete="CASCADE"), primary_key=True))


class StaffChat(SQLModel, table=True):
    """Where a staff member stands in a guided exchange with the bot (/diffuser on Telegram): the database
    is the only truth, so a restart loses nothing and a second instance picks it up."""

    __tablename__ = "staff_chat"

    staff_user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True)
    )
    step: str = Field(max_length=40)
    draft: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The buttons last offered (ids), so an old or forged press is recognised
    options: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
