"""A few weeks of fictional activity for the demo: residents (demo_residents.yaml), their appointments with
the demo advisers — past ones with a status or still without one, today's, the next days' — the reminders
they got, and the schemes they were shown. So that a new install's back-office (agenda, banner, dashboard)
shows what it is for.

Loaded only into a database without residents (an empty embedded one, or `relai-bot seed --demo
--activity`); deterministic for a given day (a seeded random generator), after the reference data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import model_validator
from sqlmodel import Session, col, select

from relai_bot.seed.schema import _Strict
from relai_bot.services import agenda, outbox, quiet_hours
from relai_bot.services.vocabulary import Goal, Situation
from relai_bot.store.models import (
    Adviser,
    AdviserScheme,
    Appointment,
    ChannelAddress,
    District,
    Opening,
    Resident,
    Scheme,
    SchemeEvent,
    Slot,
    Venue,
    id_of,
)

RESIDENTS_FILE = Path(__file__).with_name("demo_residents.yaml")
# Days of appointments before and after today
PAST_DAYS, NEXT_DAYS = 21, 7
# Past appointments this recent may still be without a status (the others were filled in): a week, so that
# every adviser's last working day before today has some to fill in
UNSET_WITHIN = timedelta(days=7)


class DemoResident(_Strict):
    name: str | None
    district: str
    age: Literal["16-17", "18-25", "26-29", "30-49", "50+"]
    situation: Situation
    goal: Goal
    telegram: str | None = None
    sms: str | None = None

    @model_validator(mode="after")
    def _one_address(self) -> DemoResident:
        if (self.telegram is None) == (self.sms is None):
            raise ValueError("a demo resident has a telegram chat id or an sms number, not both")
        return self


class DemoResidentsFile(_Strict):
    spec: Literal[1]
    residents: list[DemoResident]


@dataclass(frozen=True)
class ActivityReport:
    residents: int
    appointments: int
    reminders: int


def read_demo_residents(path: Path = RESIDENTS_FILE) -> DemoResidentsFile:
    with path.open(encoding="utf-8") as handle:
        return DemoResidentsFile.model_validate(yaml.safe_load(handle))


def load_demo_activity(session: Session, *, now: datetime, tz: ZoneInfo) -> ActivityReport:
    """Fictional residents and appointments around `now` (nothing when residents exist already)."""
    if session.exec(select(Resident.id).limit(1)).first() is not None:
        return ActivityReport(0, 0, 0)
    today = now.astimezone(tz).date()
    rng = random.Random(today.toordinal())
    people = _residents(session, read_demo_residents(), now, rng)
    schemes_of = _adviser_schemes(session)
    # Appointments only where residents could book them: weekly openings at venues the commune verified
    verified = set(session.exec(select(Venue.id).where(Venue.verified == True)))  # noqa: E712
    openings = [o for o in session.exec(select(Opening)) if o.weekday is not None and o.venue_id in verified]
    busy: set[tuple[int, date]] = set()
    # Each resident's first appointment: the later ones were booked before it (a series booked at once), so
    # that a later one is not taken for a booking made after missing an earlier one
    first_start: dict[int, datetime] = {}
    appointments = reminders = 0
    for offset in range(-PAST_DAYS, NEXT_DAYS + 1):
        day = today + timedelta(days=offset)
        if quiet_hours.is_rest_day(day):
            continue
        chance = 0.7 if offset == 0 else 0.3
        for opening in (o for o in openings if o.weekday == day.weekday()):
            for start, _end in agenda.cut(opening, day, tz):
                if rng.random() > chance:
                    continue
                seats = min(opening.capacity, rng.randint(3, 6)) if opening.capacity > 1 else 1
                slot = _slot(session, opening, start)
                for resident, address in _pick(people, day, busy, seats, rng):
                    scheme = _scheme_for(resident, schemes_of.get(opening.adviser_id, []))
                    earlier = first_start.setdefault(id_of(resident), slot.starts_at)
                    appointment = _appointment(session, slot, resident, address, scheme, now, rng, earlier)
                    appointments += 1
                    if appointment.ends_at <= now and rng.random() < 0.7:
                        reminders += _delivered_reminder(session, appointment, address, tz)
    session.flush()
    return ActivityReport(len(people), appointments, reminders)


def _residents(
    session: Session, demo: DemoResidentsFile, now: datetime, rng: random.Random
) -> list[tuple[Resident, ChannelAddress]]:
    districts = {d.code: d for d in session.exec(select(District))}
    schemes = list(session.exec(select(Scheme).where(Scheme.verified == True)))  # noqa: E712
    people = []
    for person in demo.residents:
        district = districts[person.district]
        since = now - timedelta(days=rng.randint(PAST_DAYS + 3, 75), hours=rng.randint(0, 10))
        resident = Resident(
            display_name=person.name,
            district_id=district.id,
            age_bracket=person.age,
            situation=person.situation,
            goal=person.goal,
            consent_at=since,
            opportunities=rng.random() < 0.8,
            opportunities_at=since,
            last_seen_at=now - timedelta(days=rng.randint(0, 6), hours=rng.randint(0, 12)),
            created_at=since,
        )
        session.add(resident)
        session.flush()
        channel, value = ("telegram", person.telegram) if person.telegram else ("sms", person.sms)
        assert value is not None  # the file's validator
        address = ChannelAddress(resident_id=id_of(resident), channel=channel, address=value, created_at=since)
        session.add(address)
        fitting = [s for s in schemes if person.goal in s.goals] or schemes
        for index, scheme in enumerate(rng.sample(fitting, min(3, len(fitting)))):
            at = since + timedelta(minutes=5)
            session.add(
                SchemeEvent(
                    scheme_id=id_of(scheme),
                    kind="shown",
                    resident_id=resident.id,
                    district_id=district.id,
                    channel=channel,
                    created_at=at,
                )
            )
            if index == 0:
                session.add(
                    SchemeEvent(
                        scheme_id=id_of(scheme),
                        kind="opened",
                        resident_id=resident.id,
                        district_id=district.id,
                        channel=channel,
                        created_at=at + timedelta(minutes=1),
                    )
                )
        people.append((resident, address))
    session.flush()
    return people


def _adviser_schemes(session: Session) -> dict[int, list[Scheme]]:
    found: dict[int, list[Scheme]] = {}
    rows = session.exec(
        select(AdviserScheme.adviser_id, Scheme)
        .join(Scheme, col(Scheme.id) == AdviserScheme.scheme_id)
        .join(Adviser, col(Adviser.id) == AdviserScheme.adviser_id)
        .where(Adviser.active == True, Scheme.verified == True)  # noqa: E712
        .order_by(col(Scheme.code))
    )
    for adviser_id, scheme in rows:
        found.setdefault(adviser_id, []).append(scheme)
    return found


def _slot(session: Session, opening: Opening, start: datetime) -> Slot:
    slot = session.exec(select(Slot).where(Slot.adviser_id == opening.adviser_id, Slot.starts_at == start)).first()
    if slot is None:
        slot = Slot(
            adviser_id=opening.adviser_id,
            venue_id=opening.venue_id,
            starts_at=start,
            ends_at=start + timedelta(minutes=opening.slot_minutes),
            capacity=opening.capacity,
        )
        session.add(slot)
        session.flush()
    return slot


def _pick(
    people: list[tuple[Resident, ChannelAddress]],
    day: date,
    busy: set[tuple[int, date]],
    seats: int,
    rng: random.Random,
) -> list[tuple[Resident, ChannelAddress]]:
    """Residents free that day (one appointment a day each)."""
    free = [p for p in people if (id_of(p[0]), day) not in busy]
    chosen = rng.sample(free, min(seats, len(free)))
    busy.update((id_of(resident), day) for resident, _ in chosen)
    return chosen


def _scheme_for(resident: Resident, schemes: list[Scheme]) -> Scheme | None:
    fitting = [s for s in schemes if resident.goal in s.goals] or schemes
    return fitting[0] if fitting else None


def _appointment(
    session: Session,
    slot: Slot,
    resident: Resident,
    address: ChannelAddress,
    scheme: Scheme | None,
    now: datetime,
    rng: random.Random,
    first_start: datetime,
) -> Appointment:
    booked_at = min(slot.starts_at - timedelta(days=rng.randint(2, 10)), now - timedelta(hours=1))
    booked_at = min(booked_at, first_start - timedelta(hours=rng.randint(2, 48)))
    booked_at = max(booked_at, resident.consent_at)
    status, changed = "booked", None
    if slot.ends_at <= now and (now - slot.ends_at > UNSET_WITHIN or rng.random() < 0.4):
        status = rng.choices(("attended", "no_show", "excused"), weights=(65, 22, 13))[0]
        changed = slot.ends_at + timedelta(hours=1)
    elif slot.starts_at > now and rng.random() < 0.08:
        status, changed = "cancelled", booked_at + timedelta(days=1)
    appointment = Appointment(
        resident_id=id_of(resident),
        slot_id=id_of(slot),
        scheme_id=scheme.id if scheme else None,
        status=status,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        booked_at=booked_at,
        cancelled_at=changed if status == "cancelled" else None,
        status_changed_at=changed,
        channel=address.channel,
        confirmed_at=booked_at + timedelta(days=1) if status != "cancelled" and rng.random() < 0.4 else None,
    )
    session.add(appointment)
    if status != "cancelled":
        slot.booked += 1
        session.add(slot)
    session.flush()
    return appointment


def _delivered_reminder(session: Session, appointment: Appointment, address: ChannelAddress, tz: ZoneInfo) -> int:
    """The day-before reminder of a past appointment, as the outbox keeps it once delivered."""
    local_day = appointment.starts_at.astimezone(tz).date() - timedelta(days=1)
    at = datetime.combine(local_day, datetime.min.time().replace(hour=18), tzinfo=tz).astimezone(
        appointment.starts_at.tzinfo
    )
    row = outbox.message_row(
        key=f"reminder:{appointment.id}:demo",
        kind="reminder",
        channel=address.channel,
        address=address.address,
        now=at,
        resident_id=appointment.resident_id,
        appointment_id=appointment.id,
        due_at=at,
    )
    row |= {"status": "delivered", "attempts": 1, "sent_at": at, "updated_at": at + timedelta(seconds=5)}
    return outbox.enqueue_many(session, [row])
