"""Slots, appointments and call-back requests."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from relai_bot.store.types import UTCDateTime

APPOINTMENT_STATUSES = ("booked", "cancelled", "attended", "no_show")


class Opening(SQLModel, table=True):
    """A weekly opening of an adviser at a venue; the scheduler cuts it into slots weeks ahead."""

    __tablename__ = "opening"
    __table_args__ = (CheckConstraint("weekday BETWEEN 0 AND 6", name="ck_opening_weekday"),)

    id: int | None = Field(default=None, primary_key=True)
    adviser_id: int = Field(foreign_key="adviser.id", index=True)
    venue_id: int = Field(foreign_key="venue.id")
    weekday: int  # 0 = Monday
    start: time
    end: time
    slot_minutes: int
    capacity: int = 1


class Slot(SQLModel, table=True):
    """An adviser's free time at a venue; `booked` never exceeds `capacity` (the database checks it)."""

    __tablename__ = "slot"
    __table_args__ = (
        CheckConstraint("booked >= 0 AND booked <= capacity", name="ck_slot_booked_within_capacity"),
        CheckConstraint("capacity >= 1", name="ck_slot_capacity_positive"),
        Index("ix_slot_adviser_start", "adviser_id", "starts_at", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    adviser_id: int = Field(foreign_key="adviser.id", index=True)
    venue_id: int = Field(foreign_key="venue.id", index=True)
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    capacity: int = 1
    booked: int = 0


class Appointment(SQLModel, table=True):
    __tablename__ = "appointment"
    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled', 'attended', 'no_show')", name="ck_appointment_status"),
        Index("ix_appointment_resident_status", "resident_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id")
    slot_id: int = Field(foreign_key="slot.id", index=True)
    scheme_id: int | None = Field(default=None, foreign_key="scheme.id")
    status: str = Field(default="booked", max_length=16)
    # Copied from the slot so that overlap checks and agendas need no join
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    booked_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    channel: str = Field(max_length=16)
    adviser_note: str | None = None
    # When the resident answered "je confirme" to a reminder (advisers see it)
    confirmed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class CallbackRequest(SQLModel, table=True):
    """A resident asked to be called back by a person; staff see and handle it."""

    __tablename__ = "callback_request"

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    phone: str | None = Field(default=None, max_length=20)
    preferred_time: str = Field(max_length=16)
    topic: str | None = Field(default=None, max_length=40)
    status: str = Field(default="open", max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    handled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The staff member who called back (kept if the account goes: SET NULL)
    handled_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff_user.id", ondelete="SET NULL"))
    )
