"""Booking: free slots, atomic booking, cancelling and moving appointments.

Only what the commune verified is offered: a slot at a venue not verified, or for a scheme not verified, is
never a booking choice (`bookable_venue_ids`, and the scheme's check in the free-slots query).

A slot's capacity is never exceeded: a place is taken by one conditional UPDATE
(`booked = booked + 1 WHERE booked < capacity`), atomic on SQLite and on PostgreSQL alike,
and the database checks `booked <= capacity` as a last line of defence. A resident's own
bookings are serialised by first writing their row (a row lock on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from relai_bot.services import schemes
from relai_bot.services.errors import AlreadyBooked, AppointmentNotActive, NotFound, SlotFull, SlotInPast
from relai_bot.store.models import Adviser, AdviserScheme, Appointment, Resident, Scheme, Slot, Venue, id_of

# A slot must start at least this long after booking (time to get there)
BOOKING_LEAD = timedelta(hours=1)


@dataclass(frozen=True)
class SlotView:
    slot: Slot
    venue: Venue
    adviser: Adviser


@dataclass(frozen=True)
class VenueChoice:
    venue: Venue
    first_start: datetime
    free_slots: int


def bookable_venue_ids() -> SelectOfScalar[int | None]:
    """The venues a resident may be offered a slot at: those the commune verified."""
    return select(col(Venue.id)).where(Venue.verified == True)  # noqa: E712


def bookable_scheme_ids() -> SelectOfScalar[int | None]:
    """The schemes a resident may book an appointment about: those a resident may be shown."""
    return select(col(Scheme.id)).where(schemes.shown_to_residents())


def _free_slots_query(now: datetime, horizon: timedelta, scheme_id: int | None) -> Select[Slot, Venue, Adviser]:
    statement = (
        select(Slot, Venue, Adviser)
        .join(Venue, col(Venue.id) == Slot.venue_id)
        .join(Adviser, col(Adviser.id) == Slot.adviser_id)
        .where(
            Slot.booked < Slot.capacity,
            col(Slot.closed_at).is_(None),
            Slot.starts_at >= now + BOOKING_LEAD,
            Slot.starts_at <= now + horizon,
            Adviser.active == True,  # noqa: E712
            col(Slot.venue_id).in_(bookable_venue_ids()),
        )
    )
    if scheme_id is not None:
        statement = statement.join(
            AdviserScheme,
            and_(col(AdviserScheme.adviser_id) == Slot.adviser_id, col(AdviserScheme.scheme_id) == scheme_id),
        ).where(col(AdviserScheme.scheme_id).in_(bookable_scheme_ids()))
    return statement


def free_slots(
    session: Session,
    now: datetime,
    *,
    scheme_id: int | None = None,
    venue_id: int | None = None,
    adviser_id: int | None = None,
    limit: int = 5,
    horizon: timedelta = timedelta(days=42),
    exclude_slot_id: int | None = None,
    slot_id: int | None = None,
) -> list[SlotView]:
    """The next slots with a free place, soonest first."""
    statement = _free_slots_query(now, horizon, scheme_id)
    if slot_id is not None:
        statement = statement.where(Slot.id == slot_id)
    if venue_id is not None:
        statement = statement.where(Slot.venue_id == venue_id)
    if adviser_id is not None:
        statement = statement.where(Slot.adviser_id == adviser_id)
    if exclude_slot_id is not None:
        statement = statement.where(Slot.id != exclude_slot_id)
    statement = statement.order_by(col(Slot.starts_at), col(Slot.id)).limit(limit)
    return [SlotView(slot, venue, adviser) for slot, venue, adviser in session.exec(statement)]


def venues_with_free_slots(
    session: Session, now: datetime, *, scheme_id: int | None, horizon: timedelta = timedelta(days=42)
) -> list[VenueChoice]:
    """Places where an adviser for this scheme has a free slot, with the first one."""
    statement = _free_slots_query(now, horizon, scheme_id)
    first: dict[int, VenueChoice] = {}
    for slot, venue, _adviser in session.exec(statement.order_by(col(Slot.starts_at))):
        known = first.get(id_of(venue))
        if known is None:
            first[id_of(venue)] = VenueChoice(venue, slot.starts_at, 1)
        else:
            first[id_of(venue)] = VenueChoice(venue, known.first_start, known.free_slots + 1)
    return sorted(first.values(), key=lambda c: (c.venue.remote, c.first_start))


def _lock_resident(session: Session, resident_id: int, now: datetime) -> None:
    result = session.exec(update(Resident).where(col(Resident.id) == resident_id).values(last_seen_at=now))
    if not result.rowcount:
        raise NotFound(f"resident {resident_id}")


def _check_overlap(session: Session, resident_id: int, slot: Slot, ignore_appointment: int | None) -> None:
    statement = select(func.count()).where(
        Appointment.resident_id == resident_id,
        Appointment.status == "booked",
        Appointment.starts_at < slot.ends_at,
        Appointment.ends_at > slot.starts_at,
    )
    if ignore_appointment is not None:
        statement = statement.where(Appointment.id != ignore_appointment)
    if session.exec(statement).one():
        raise AlreadyBooked()


def _take_place(session: Session, slot_id: int, now: datetime) -> Slot:
    slot = session.get(Slot, slot_id, populate_existing=True)
    if slot is None:
        raise NotFound(f"slot {slot_id}")
    if slot.starts_at < now + BOOKING_LEAD:
        raise SlotInPast()
    if slot.closed_at is not None:  # no opening covers it any more, or the adviser is away then
        raise SlotFull()
    return slot


def _claim(session: Session, slot_id: int) -> None:
    taken = session.exec(
        update(Slot).where(col(Slot.id) == slot_id, col(Slot.booked) < Slot.capacity).values(booked=Slot.booked + 1)
    )
    if taken.rowcount != 1:
        raise SlotFull()


def book_slot(
    session: Session,
    *,
    resident_id: int,
    slot_id: int,
    scheme_id: int | None,
    channel: str,
    now: datetime,
) -> Appointment:
    """Take one place in a slot for a resident. Raises SlotFull, SlotInPast, AlreadyBooked."""
    _lock_resident(session, resident_id, now)
    slot = _take_place(session, slot_id, now)
    _check_overlap(session, resident_id, slot, ignore_appointment=None)
    _claim(session, slot_id)
    appointment = Appointment(
        resident_id=resident_id,
        slot_id=slot_id,
        scheme_id=scheme_id,
        status="booked",
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        booked_at=now,
        channel=channel,
    )
    session.add(appointment)
    session.flush()
    return appointment


def _own_active(session: Session, appointment_id: int, resident_id: int, now: datetime) -> Appointment:
    appointment = session.get(Appointment, appointment_id, populate_existing=True)
    if appointment is None or appointment.resident_id != resident_id:
        raise NotFound(f"appointment {appointment_id}")
    if appointment.status != "booked" or appointment.ends_at <= now:
        raise AppointmentNotActive()
    return appointment


def release_place(session: Session, slot_id: int) -> None:
    """Give one place of a slot back (the one place that does: cancelling, moving, erasing a resident)."""
    session.execute(update(Slot).where(col(Slot.id) == slot_id, col(Slot.booked) > 0).values(booked=Slot.booked - 1))


def _cancel(session: Session, appointment: Appointment, now: datetime) -> None:
    appointment.status = "cancelled"
    appointment.cancelled_at = now
    appointment.status_changed_at = now
    session.add(appointment)
    release_place(session, appointment.slot_id)


def release_future_places(session: Session, resident_id: int, now: datetime) -> int:
    """A resident is being erased: the places they held in slots still to come go back to others."""
    future = session.exec(
        select(Appointment).where(
            Appointment.resident_id == resident_id,
            Appointment.status == "booked",
            Appointment.starts_at > now,
        )
    ).all()
    for appointment in future:
        release_place(session, appointment.slot_id)
    return len(future)


def cancel_appointment(session: Session, *, appointment_id: int, resident_id: int, now: datetime) -> Appointment:
    """Cancel a resident's own appointment and give the place back."""
    _lock_resident(session, resident_id, now)
    appointment = _own_active(session, appointment_id, resident_id, now)
    _cancel(session, appointment, now)
    session.flush()
    return appointment


def move_appointment(
    session: Session, *, appointment_id: int, resident_id: int, new_slot_id: int, now: datetime
) -> Appointment:
    """Move to another slot in one transaction: the new place is taken before the old one is freed."""
    _lock_resident(session, resident_id, now)
    old = _own_active(session, appointment_id, resident_id, now)
    slot = _take_place(session, new_slot_id, now)
    _check_overlap(session, resident_id, slot, ignore_appointment=old.id)
    _claim(session, new_slot_id)
    _cancel(session, old, now)
    moved = Appointment(
        resident_id=resident_id,
        slot_id=new_slot_id,
        scheme_id=old.scheme_id,
        status="booked",
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        booked_at=now,
        channel=old.channel,
    )
    session.add(moved)
    session.flush()
    return moved


@dataclass(frozen=True)
class AppointmentView:
    appointment: Appointment
    venue: Venue
    adviser: Adviser
    scheme: Scheme | None


def upcoming_appointments(session: Session, resident_id: int, now: datetime) -> list[AppointmentView]:
    statement = (
        select(Appointment, Slot, Venue, Adviser)
        .join(Slot, col(Slot.id) == Appointment.slot_id)
        .join(Venue, col(Venue.id) == Slot.venue_id)
        .join(Adviser, col(Adviser.id) == Slot.adviser_id)
        .where(Appointment.resident_id == resident_id, Appointment.status == "booked", Appointment.ends_at > now)
        .order_by(col(Appointment.starts_at))
    )
    views = []
    for appointment, _slot, venue, adviser in session.exec(statement):
        scheme = session.get(Scheme, appointment.scheme_id) if appointment.scheme_id else None
        views.append(AppointmentView(appointment, venue, adviser, scheme))
    return views


def appointment_view(session: Session, appointment_id: int) -> AppointmentView:
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        raise NotFound(f"appointment {appointment_id}")
    slot = session.get(Slot, appointment.slot_id)
    assert slot is not None
    venue = session.get(Venue, slot.venue_id)
    adviser = session.get(Adviser, slot.adviser_id)
    assert venue is not None and adviser is not None
    scheme = session.get(Scheme, appointment.scheme_id) if appointment.scheme_id else None
    return AppointmentView(appointment, venue, adviser, scheme)
