"""Advisers' morning digest: the day's appointments, with the confirmations received so far."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from relai_bot.services.residents import real_residents
from relai_bot.store.models import Adviser, AdviserAddress, Appointment, Resident, Scheme, Slot, Venue, id_of


@dataclass(frozen=True)
class DigestLine:
    starts_at: datetime
    resident_name: str | None
    resident_id: int
    venue: str
    remote: bool
    scheme: str | None
    confirmed: bool


def advisers_with_account(session: Session) -> list[Adviser]:
    linked = select(AdviserAddress.adviser_id)
    return list(session.exec(select(Adviser).where(Adviser.active == True, col(Adviser.id).in_(linked))))  # noqa: E712


def adviser_day(session: Session, adviser_id: int, day: date, tz: ZoneInfo) -> list[DigestLine]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    statement = (
        select(Appointment, Resident, Venue)
        .join(Slot, col(Slot.id) == Appointment.slot_id)
        .join(Resident, col(Resident.id) == Appointment.resident_id)
        .join(Venue, col(Venue.id) == Slot.venue_id)
        .where(
            Slot.adviser_id == adviser_id,
            real_residents(),  # a simulator's test booking is no one coming
            Appointment.status == "booked",
            Appointment.starts_at >= start,
            Appointment.starts_at < start + timedelta(days=1),
        )
        .order_by(col(Appointment.starts_at))
    )
    lines = []
    for appointment, resident, venue in session.exec(statement):
        scheme = session.get(Scheme, appointment.scheme_id) if appointment.scheme_id else None
        lines.append(
            DigestLine(
                starts_at=appointment.starts_at,
                resident_name=resident.display_name,
                resident_id=id_of(resident),
                venue=venue.name,
                remote=venue.remote,
                scheme=(scheme.acronym or scheme.name) if scheme else None,
                confirmed=appointment.confirmed_at is not None,
            )
        )
    return lines
