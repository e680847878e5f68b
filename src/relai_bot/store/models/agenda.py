"""Slots, appointments and call-back requests."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from relai_bot.store.types import UTCDateTime

# booked: to come (or past, its status not set yet); cancelled: by the resident; service_cancelled: by the
# service (an adviser, staff, an absence); excused: the resident said they could not come; attended: seen;
# no_show: did not come without a word. services/appointment_status.py owns which change is allowed.
APPOINTMENT_STATUSES = ("booked", "cancelled", "service_cancelled", "excused", "attended", "no_show")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Opening(SQLModel, table=True):
    """When an adviser receives at a venue: every week on `weekday`, or once on `on_date` (exactly one of
    the two); the scheduler cuts it into slots weeks ahead."""

    __tablename__ = "opening"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="ck_opening_weekday"),
        CheckConstraint("(weekday IS NULL) <> (on_date IS NULL)", name="ck_opening_weekly_or_once"),
        CheckConstraint('"end" > "start"', name="ck_opening_end_after_start"),
        CheckConstraint("slot_minutes >= 5 AND capacity >= 1", name="ck_opening_slot_size"),
    )

    id: int | None = Field(default=None, primary_key=True)
    adviser_id: int = Field(foreign_key="adviser.id", index=True)
    venue_id: int = Field(foreign_key="venue.id")
    weekday: int | None = None  # 0 = Monday; None for a one-off opening
    on_date: date | None = None  # a one-off opening (local date)
    start: time
    end: time
    slot_minutes: int
    capacity: int = 1


class Slot(SQLModel, table=True):
    """An adviser's free time at a venue; `booked` never exceeds `capacity` (the database checks it).

    A slot no opening covers any more (or in an absence) is deleted when nothing refers to it; one that
    holds appointments (booked, or cancelled ones kept as history) is closed instead: `closed_at` set, its
    free places no longer offered (services/agenda.py)."""

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
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Appointment(SQLModel, table=True):
    __tablename__ = "appointment"
    __table_args__ = (
        CheckConstraint(_in("status", APPOINTMENT_STATUSES), name="ck_appointment_status"),
        Index("ix_appointment_resident_status", "resident_id", "status"),
        Index("ix_appointment_status_starts", "status", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id")
    slot_id: int = Field(foreign_key="slot.id", index=True)
    scheme_id: int | None = Field(default=None, foreign_key="scheme.id")
    status: str = Field(default="booked", max_length=20)  # "service_cancelled" is 17 characters
    # Copied from the slot so that overlap checks and agendas need no join
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    booked_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    channel: str = Field(max_length=16)
    # The adviser's free note ("context"): kept under the retention rule, part of the resident's export
    adviser_note: str | None = None
    note_updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The staff account that set the status last (None: the resident, or the service on its own)
    status_set_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True)
    )
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
    # What the staff member noted when they handled it ("rappelée, rdv pris mardi")
    handled_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Absence(SQLModel, table=True):
    """An adviser is away (leave, training, illness): no slot is offered then, and the appointments booked
    then are moved or cancelled, each resident told (services/absences.py)."""

    __tablename__ = "absence"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ck_absence_ends_after_start"),)

    id: int | None = Field(default=None, primary_key=True)
    adviser_id: int = Field(sa_column=Column(Integer, ForeignKey("adviser.id", ondelete="CASCADE"), nullable=False))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True)
    )
