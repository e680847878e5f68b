"""Advisers' agendas: openings (weekly or one-off) cut into bookable slots, skipping La Réunion's public
holidays and the advisers' absences.

The openings are the truth: `extend_slots` creates the slots they make, weeks ahead (the nightly tick, and
at once after an opening or an absence changes); `prune_slots` takes away the future slots of an adviser
that no opening makes any more. A slot is known by (adviser, starts_at). A slot nothing refers to is
deleted; one that holds appointments (booked ones, or cancelled ones kept as history) is closed instead
(`Slot.closed_at`): its free places are no longer offered, and the booked ones are listed as outside the
opening hours for staff to act on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from relai_bot.store.models import Absence, Appointment, Opening, Slot, id_of

if TYPE_CHECKING:  # holidays (and dateutil) are imported when a day is first checked, not at start
    import holidays

# How far ahead advisers' agendas are open (the nightly tick and every change of an opening)
SLOT_WEEKS_AHEAD = 6

SlotKey = tuple[int, datetime]


def public_holidays(years: range) -> holidays.HolidayBase:
    """France with subdivision RE: includes 20 December (abolition of slavery)."""
    import holidays

    return holidays.country_holidays("FR", subdiv="RE", years=list(years))


def is_public_holiday(day: date) -> bool:
    return day in public_holidays(range(day.year, day.year + 1))


@dataclass(frozen=True)
class WantedSlot:
    """A slot an opening makes."""

    venue_id: int
    starts_at: datetime
    ends_at: datetime
    capacity: int


def opens_on(opening: Opening, day: date) -> bool:
    """Whether a weekly opening falls on this day, or a one-off one is that day."""
    return opening.on_date == day if opening.on_date is not None else opening.weekday == day.weekday()


def cut(opening: Opening, day: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The slots (start, end) of an opening on one day, as local times."""
    start = datetime.combine(day, opening.start, tzinfo=tz)
    end_of_opening = datetime.combine(day, opening.end, tzinfo=tz)
    step = timedelta(minutes=opening.slot_minutes)
    slots = []
    while start + step <= end_of_opening:
        slots.append((start, start + step))
        start += step
    return slots


def _away(absences: Sequence[Absence], adviser_id: int, start: datetime, end: datetime) -> bool:
    return any(a.adviser_id == adviser_id and a.starts_at < end and a.ends_at > start for a in absences)


def wanted_slots(
    openings: Iterable[Opening], absences: Sequence[Absence], *, now: datetime, tz: ZoneInfo, last: date
) -> dict[SlotKey, WantedSlot]:
    """Every slot the openings make after `now` until the day before `last`, by (adviser, start)."""
    openings = list(openings)
    today = now.astimezone(tz).date()
    closed = public_holidays(range(today.year, last.year + 1))
    wanted: dict[SlotKey, WantedSlot] = {}
    day = today
    while day < last:
        if day not in closed:
            for opening in openings:
                if not opens_on(opening, day):
                    continue
                for start, end in cut(opening, day, tz):
                    if start <= now or _away(absences, opening.adviser_id, start, end):
                        continue
                    key = (opening.adviser_id, start.astimezone(now.tzinfo))
                    wanted.setdefault(
                        key,
                        WantedSlot(
                            opening.venue_id, start.astimezone(now.tzinfo), end.astimezone(now.tzinfo), opening.capacity
                        ),
                    )
        day += timedelta(days=1)
    return wanted


def _openings(session: Session, adviser_id: int | None) -> list[Opening]:
    statement = select(Opening)
    if adviser_id is not None:
        statement = statement.where(Opening.adviser_id == adviser_id)
    return list(session.exec(statement))


def _absences(session: Session, adviser_id: int | None, now: datetime) -> list[Absence]:
    statement = select(Absence).where(Absence.ends_at > now)
    if adviser_id is not None:
        statement = statement.where(Absence.adviser_id == adviser_id)
    return list(session.exec(statement))


def _future_slots(session: Session, adviser_id: int | None, now: datetime) -> list[Slot]:
    statement = select(Slot).where(Slot.starts_at > now)
    if adviser_id is not None:
        statement = statement.where(Slot.adviser_id == adviser_id)
    return list(session.exec(statement))


def _matches(slot: Slot, wanted: WantedSlot) -> bool:
    return slot.venue_id == wanted.venue_id and slot.ends_at == wanted.ends_at


def extend_slots(session: Session, *, now: datetime, tz: ZoneInfo, weeks: int, adviser_id: int | None = None) -> int:
    """Create the slots of every opening (or one adviser's) from now to `weeks` ahead, out of holidays and
    absences, and reopen the closed ones an opening makes again (idempotent). Returns how many were made or
    reopened."""
    openings = _openings(session, adviser_id)
    if not openings:
        return 0
    last = now.astimezone(tz).date() + timedelta(weeks=weeks)
    wanted = wanted_slots(openings, _absences(session, adviser_id, now), now=now, tz=tz, last=last)
    existing = {(slot.adviser_id, slot.starts_at): slot for slot in _future_slots(session, adviser_id, now)}
    created = 0
    for (adviser, starts_at), want in wanted.items():
        slot = existing.get((adviser, starts_at))
        if slot is None:
            session.add(
                Slot(
                    adviser_id=adviser,
                    venue_id=want.venue_id,
                    starts_at=starts_at,
                    ends_at=want.ends_at,
                    capacity=want.capacity,
                )
            )
            created += 1
        elif slot.closed_at is not None and _matches(slot, want):
            slot.closed_at = None
            slot.capacity = max(want.capacity, slot.booked)
            session.add(slot)
            created += 1
    session.flush()
    return created


@dataclass(frozen=True)
class Pruned:
    deleted: int
    closed: int


def prune_slots(session: Session, *, adviser_id: int, now: datetime, tz: ZoneInfo) -> Pruned:
    """Take away an adviser's future slots that no opening makes any more (or that fall in an absence):
    deleted when nothing refers to them, closed when they hold appointments. A slot an opening still makes
    follows it (venue, length and capacity, never below the places booked)."""
    slots = _future_slots(session, adviser_id, now)
    if not slots:
        return Pruned(0, 0)
    last = max(slot.starts_at for slot in slots).astimezone(tz).date() + timedelta(days=1)
    wanted = wanted_slots(
        _openings(session, adviser_id), _absences(session, adviser_id, now), now=now, tz=tz, last=last
    )
    ids = [id_of(slot) for slot in slots]
    referred = set(session.exec(select(Appointment.slot_id).where(col(Appointment.slot_id).in_(ids)).distinct()))
    doomed: list[int] = []
    closed = 0
    for slot in slots:
        want = wanted.get((slot.adviser_id, slot.starts_at))
        free = id_of(slot) not in referred and slot.booked == 0
        if want is not None and (free or _matches(slot, want)):
            if not _matches(slot, want):
                slot.venue_id, slot.ends_at = want.venue_id, want.ends_at
            slot.capacity = max(want.capacity, slot.booked)
            session.add(slot)
        elif free:
            doomed.append(id_of(slot))
        elif slot.closed_at is None:
            slot.closed_at = now
            session.add(slot)
            closed += 1
    session.flush()
    if doomed:
        session.execute(delete(Slot).where(col(Slot.id).in_(doomed)))
    return Pruned(len(doomed), closed)


@dataclass(frozen=True)
class SlotChanges:
    created: int
    deleted: int
    closed: int


def follow_openings(session: Session, *, adviser_id: int, now: datetime, tz: ZoneInfo) -> SlotChanges:
    """After an adviser's openings or absences changed: their slots follow at once (no nightly wait)."""
    pruned = prune_slots(session, adviser_id=adviser_id, now=now, tz=tz)
    created = extend_slots(session, now=now, tz=tz, weeks=open_weeks(session, now=now, tz=tz), adviser_id=adviser_id)
    return SlotChanges(created, pruned.deleted, pruned.closed)


def open_weeks(session: Session, *, now: datetime, tz: ZoneInfo) -> int:
    """How many weeks ahead the agendas are open now (the nightly tick's SLOT_WEEKS_AHEAD, or what the seed
    opened): a change of openings fills the same weeks, no more."""
    last: datetime | None = session.exec(select(func.max(Slot.starts_at))).one()
    if last is None:
        return SLOT_WEEKS_AHEAD
    days = (last.astimezone(tz).date() - now.astimezone(tz).date()).days
    return max(1, -(-(days + 1) // 7))


def outside_hours(session: Session, *, now: datetime, adviser_ids: Iterable[int] | None = None) -> list[Slot]:
    """Future slots still booked that no opening makes any more: staff move or cancel those appointments."""
    statement = select(Slot).where(Slot.starts_at > now, col(Slot.closed_at).is_not(None), Slot.booked > 0)
    if adviser_ids is not None:
        statement = statement.where(col(Slot.adviser_id).in_(list(adviser_ids)))
    return list(session.exec(statement.order_by(col(Slot.starts_at))))
