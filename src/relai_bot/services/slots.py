"""One slot as staff see it: its bookings (first names and statuses) and its waitlist (who waits, since
when, the offers made). Residents are named by their first name, if they gave one, and their id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from relai_bot.services.errors import NotFound
from relai_bot.store.models import Adviser, Appointment, Resident, Slot, Venue, WaitlistEntry


@dataclass(frozen=True)
class Booking:
    appointment_id: int
    resident_id: int
    first_name: str | None
    status: str
    booked_at: datetime
    channel: str


@dataclass(frozen=True)
class Waiting:
    entry_id: int
    resident_id: int
    first_name: str | None
    status: str
    since: datetime
    for_this_slot: bool  # False: waits for any slot of a scheme, and was offered this one
    offered_here: bool
    offered_at: datetime | None
    offer_expires_at: datetime | None


@dataclass(frozen=True)
class SlotDetail:
    slot: Slot
    venue: Venue
    adviser: Adviser
    bookings: list[Booking]
    waitlist: list[Waiting]


def get_slot(session: Session, slot_id: int) -> tuple[Slot, Venue, Adviser]:
    row = session.exec(
        select(Slot, Venue, Adviser)
        .join(Venue, col(Venue.id) == Slot.venue_id)
        .join(Adviser, col(Adviser.id) == Slot.adviser_id)
        .where(Slot.id == slot_id)
    ).first()
    if row is None:
        raise NotFound(f"slot {slot_id}")
    return row


def slot_detail(session: Session, slot_id: int) -> SlotDetail:
    """The slot, its appointments (booked first, then by booking time) and its waitlist (oldest first)."""
    slot, venue, adviser = get_slot(session, slot_id)
    bookings = [
        Booking(a.id or 0, a.resident_id, first_name, a.status, a.booked_at, a.channel)
        for a, first_name in session.exec(
            select(Appointment, Resident.display_name)
            .join(Resident, col(Resident.id) == Appointment.resident_id)
            .where(Appointment.slot_id == slot_id)
            .order_by(col(Appointment.booked_at), col(Appointment.id))
        )
    ]
    bookings.sort(key=lambda b: b.status != "booked")
    waitlist = [
        Waiting(
            entry.id or 0,
            entry.resident_id,
            first_name,
            entry.status,
            entry.created_at,
            entry.slot_id == slot_id,
            entry.offered_slot_id == slot_id,
            entry.offered_at if entry.offered_slot_id == slot_id else None,
            entry.offer_expires_at if entry.offered_slot_id == slot_id else None,
        )
        for entry, first_name in session.exec(
            select(WaitlistEntry, Resident.display_name)
            .join(Resident, col(Resident.id) == WaitlistEntry.resident_id)
            .where(or_(col(WaitlistEntry.slot_id) == slot_id, col(WaitlistEntry.offered_slot_id) == slot_id))
            .order_by(col(WaitlistEntry.created_at), col(WaitlistEntry.id))
        )
    ]
    return SlotDetail(slot, venue, adviser, bookings, waitlist)
