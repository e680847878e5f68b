"""Appointments at chosen local times for the agenda's tests: a slot of an adviser at a venue (made if the
seed has none then), booked through services.booking as if the resident had booked it two hours before."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from relai_bot.services import booking
from relai_bot.store.models import Adviser, Scheme, Slot, Venue, id_of
from relai_bot.wiring import Runtime

TZ = ZoneInfo("Indian/Reunion")


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def slot_at(
    runtime: Runtime, starts: datetime, *, adviser: str = "payet", venue: str = "hotel-de-ville", minutes: int = 45
) -> int:
    with runtime.db.transaction() as session:
        adviser_id = session.exec(select(Adviser.id).where(Adviser.code == adviser)).one()
        venue_id = session.exec(select(Venue.id).where(Venue.code == venue)).one()
        found = session.exec(select(Slot).where(Slot.adviser_id == adviser_id, Slot.starts_at == starts)).first()
        if found is not None:
            found.venue_id, found.ends_at, found.capacity = venue_id, starts + timedelta(minutes=minutes), 12
            session.add(found)
            return id_of(found)
        slot = Slot(
            adviser_id=adviser_id,
            venue_id=venue_id,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=minutes),
            capacity=12,
        )
        session.add(slot)
        session.flush()
        return id_of(slot)


def appointment_at(
    runtime: Runtime,
    resident_id: int,
    starts: datetime,
    *,
    adviser: str = "payet",
    venue: str = "hotel-de-ville",
    scheme: str | None = "pec",
    channel: str = "sms",
) -> int:
    """A booked appointment (its id), taken two hours before it starts."""
    slot_id = slot_at(runtime, starts, adviser=adviser, venue=venue)
    with runtime.db.transaction() as session:
        scheme_id = session.exec(select(Scheme.id).where(Scheme.code == scheme)).one() if scheme else None
        appointment = booking.book_slot(
            session,
            resident_id=resident_id,
            slot_id=slot_id,
            scheme_id=scheme_id,
            channel=channel,
            now=starts - timedelta(hours=2),
        )
        return id_of(appointment)
