"""Advisers' agendas: weekly openings cut into bookable slots, skipping La Réunion's public holidays."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
from sqlmodel import Session, select

from relai_bot.store.models import Opening, Slot


def public_holidays(years: range) -> holidays.HolidayBase:
    """France with subdivision RE: includes 20 December (abolition of slavery)."""
    return holidays.country_holidays("FR", subdiv="RE", years=list(years))


def extend_slots(session: Session, *, now: datetime, tz: ZoneInfo, weeks: int) -> int:
    """Create the slots of every opening from today to `weeks` ahead (idempotent). Returns how many were made."""
    today = now.astimezone(tz).date()
    last = today + timedelta(weeks=weeks)
    closed = public_holidays(range(today.year, last.year + 1))
    openings = list(session.exec(select(Opening)))
    if not openings:
        return 0
    existing = {
        (adviser_id, starts_at)
        for adviser_id, starts_at in session.exec(select(Slot.adviser_id, Slot.starts_at).where(Slot.starts_at >= now))
    }
    created = 0
    day: date = today
    while day < last:
        if day not in closed:
            for opening in openings:
                if opening.weekday != day.weekday():
                    continue
                start = datetime.combine(day, opening.start, tzinfo=tz)
                end_of_opening = datetime.combine(day, opening.end, tzinfo=tz)
                step = timedelta(minutes=opening.slot_minutes)
                while start + step <= end_of_opening:
                    key = (opening.adviser_id, start.astimezone(now.tzinfo))
                    if start > now and key not in existing:
                        session.add(
                            Slot(
                                adviser_id=opening.adviser_id,
                                venue_id=opening.venue_id,
                                starts_at=start,
                                ends_at=start + step,
                                capacity=opening.capacity,
                            )
                        )
                        existing.add(key)
                        created += 1
                    start += step
        day += timedelta(days=1)
    session.flush()
    return created
