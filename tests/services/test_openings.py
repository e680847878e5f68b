"""Openings: checked field by field, and the adviser's slots follow every change at once (the demo seed's
agendas; the clock stands on Tuesday 1 December 2026, 10:00 in La Réunion)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest
from sqlmodel import Session, col, select

from relai_bot.services import agenda, booking, openings
from relai_bot.services.openings import OpeningDraft, OpeningInvalid
from relai_bot.services.residents import create_resident
from relai_bot.store.models import Adviser, AuditEvent, Opening, Slot, Venue, id_of
from relai_bot.wiring import Runtime

TZ_NAME = "Indian/Reunion"


def adviser_id(session: Session, code: str) -> int:
    return id_of(session.exec(select(Adviser).where(Adviser.code == code)).one())


def venue_id(session: Session, code: str) -> int:
    return id_of(session.exec(select(Venue).where(Venue.code == code)).one())


def local(runtime: Runtime, day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=runtime.settings.tz).astimezone(UTC)


def slot_starts(session: Session, runtime: Runtime, adviser: int, day: date) -> list[time]:
    tz = runtime.settings.tz
    starts = session.exec(select(Slot.starts_at).where(Slot.adviser_id == adviser).order_by(col(Slot.starts_at)))
    return [s.astimezone(tz).time() for s in starts if s.astimezone(tz).date() == day]


def saturday_draft(session: Session) -> OpeningDraft:
    """A valid draft: Mme Payet, Saturday mornings at the Ravine à Malheur annex (she has no Saturday opening)."""
    return OpeningDraft(
        adviser_id=adviser_id(session, "payet"),
        venue_id=venue_id(session, "annexe-ravine-a-malheur"),
        weekday=5,
        on_date=None,
        start=time(9, 0),
        end=time(12, 0),
        slot_minutes=60,
        capacity=1,
    )


def book(runtime: Runtime, session: Session, slot_id: int, address: str = "1001") -> int:
    resident = create_resident(session, "telegram", address, runtime.clock.now())
    appointment = booking.book_slot(
        session,
        resident_id=id_of(resident),
        slot_id=slot_id,
        scheme_id=None,
        channel="telegram",
        now=runtime.clock.now(),
    )
    return id_of(appointment)


CHANGES = {
    "end before start": ({"start": time(12, 0), "end": time(9, 0)}, "end"),
    "end equal to start": ({"end": time(9, 0)}, "end"),
    "slot too short": ({"slot_minutes": 4}, "slot_minutes"),
    "slot too long": ({"slot_minutes": 481}, "slot_minutes"),
    "no slot fits": ({"slot_minutes": 200}, "slot_minutes"),
    "no place": ({"capacity": 0}, "capacity"),
    "too many places": ({"capacity": 201}, "capacity"),
    "overlaps her Monday": ({"weekday": 0, "start": time(10, 0), "end": time(12, 0)}, "start"),
    "one-off on a Monday overlaps": ({"weekday": None, "on_date": date(2026, 12, 14)}, "start"),
    "one-off in the past": ({"weekday": None, "on_date": date(2026, 11, 30)}, "on_date"),
    "one-off on Christmas": ({"weekday": None, "on_date": date(2026, 12, 25)}, "on_date"),
    "on 20 December (abolition of slavery)": ({"weekday": None, "on_date": date(2026, 12, 20)}, "on_date"),
    "unknown venue": ({"venue_id": 9999}, "venue"),
    "unknown adviser": ({"adviser_id": 9999}, "adviser"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
def test_each_rule_names_its_field(runtime: Runtime, change: tuple[dict[str, object], str]) -> None:
    values, field = change
    with runtime.db.transaction() as session:
        draft = replace(saturday_draft(session), **values)  # type: ignore[arg-type]
        with pytest.raises(OpeningInvalid) as refused:
            openings.create_opening(session, draft, actor_id=None, now=runtime.clock.now(), tz=runtime.settings.tz)
    assert refused.value.field == field
    assert list(refused.value.errors) == [field]


def test_an_inactive_adviser_gets_no_opening(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        draft = saturday_draft(session)
        adviser = session.get(Adviser, draft.adviser_id)
        assert adviser is not None
        adviser.active = False
        session.add(adviser)
        with pytest.raises(OpeningInvalid) as refused:
            openings.check(session, draft, now=runtime.clock.now(), tz=runtime.settings.tz)
    assert refused.value.errors.keys() == {"adviser"}


def test_a_valid_draft_passes_and_several_faults_are_told_together(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        draft = saturday_draft(session)
        openings.check(session, draft, now=runtime.clock.now(), tz=runtime.settings.tz)
        with pytest.raises(OpeningInvalid) as refused:
            openings.check(
                session, replace(draft, capacity=0, slot_minutes=2), now=runtime.clock.now(), tz=runtime.settings.tz
            )
    assert set(refused.value.errors) == {"capacity", "slot_minutes"}


PARSE = {
    "no adviser": ({"adviser": ""}, "adviser"),
    "no kind": ({"kind": ""}, "kind"),
    "no weekday": ({"weekday": ""}, "weekday"),
    "weekday 7": ({"weekday": "7"}, "weekday"),
    "a date that is no date": ({"kind": "once", "on_date": "31/02/2026"}, "on_date"),
    "start 25:00": ({"start": "25:00"}, "start"),
    "end in words": ({"end": "midi"}, "end"),
    "minutes in words": ({"slot_minutes": "trois quarts"}, "slot_minutes"),
    "capacity -1": ({"capacity": "-1"}, "capacity"),
}
FORM = {
    "adviser": "1",
    "venue": "1",
    "kind": "weekly",
    "weekday": "5",
    "on_date": "",
    "start": "09:00",
    "end": "12:00",
    "slot_minutes": "60",
    "capacity": "1",
}


@pytest.mark.parametrize("change", PARSE.values(), ids=list(PARSE))
def test_a_form_that_cannot_be_read_names_its_field(change: tuple[dict[str, str], str]) -> None:
    values, field = change
    with pytest.raises(OpeningInvalid) as refused:
        openings.parse_draft(FORM | values)
    assert refused.value.field == field


def test_a_form_reads_weekly_and_one_off_openings() -> None:
    assert openings.parse_draft(FORM) == OpeningDraft(1, 1, 5, None, time(9), time(12), 60, 1)
    once = openings.parse_draft(FORM | {"kind": "once", "on_date": "17/12/2026", "start": "14h", "end": "16 h 00"})
    assert (once.weekday, once.on_date, once.start, once.end) == (None, date(2026, 12, 17), time(14), time(16))
    assert openings.parse_draft(FORM | {"kind": "once", "on_date": "2026-12-17"}).on_date == date(2026, 12, 17)


def test_new_slots_appear_at_once_and_are_offered(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        draft = saturday_draft(session)
        saved = openings.create_opening(session, draft, actor_id=None, now=now, tz=runtime.settings.tz)
        # As far as the agendas are open (the seed's four weeks): four Saturdays, three slots each
        assert saved.slots == agenda.SlotChanges(created=12, deleted=0, closed=0)
        assert slot_starts(session, runtime, draft.adviser_id, date(2026, 12, 5)) == [time(9), time(10), time(11)]
        offered = booking.free_slots(session, now, adviser_id=draft.adviser_id, limit=200)
        assert local(runtime, date(2026, 12, 5), time(9)) in {v.slot.starts_at for v in offered}
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "opening.created")).one()
        assert event.target == f"opening:{saved.opening.id}"
        # The nightly tick opens weeks 5 and 6 for everyone, and is idempotent
        weeks = agenda.SLOT_WEEKS_AHEAD
        assert agenda.extend_slots(session, now=now, tz=runtime.settings.tz, weeks=weeks) > 0
        assert agenda.extend_slots(session, now=now, tz=runtime.settings.tz, weeks=weeks) == 0


def test_a_one_off_group_session_makes_one_slot_with_its_places(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        payet = adviser_id(session, "payet")
        draft = OpeningDraft(
            payet, venue_id(session, "mediatheque-heva"), None, date(2026, 12, 17), time(14), time(16), 120, 15
        )
        openings.create_opening(session, draft, actor_id=None, now=runtime.clock.now(), tz=runtime.settings.tz)
        slots = session.exec(select(Slot).where(Slot.adviser_id == payet, Slot.capacity == 15)).all()
        assert [(s.starts_at, s.ends_at) for s in slots] == [
            (local(runtime, date(2026, 12, 17), time(14)), local(runtime, date(2026, 12, 17), time(16)))
        ]
        # Not the Thursday after: a one-off opening happens once
        assert time(14) not in slot_starts(session, runtime, payet, date(2026, 12, 24))


def test_no_slot_on_a_public_holiday(runtime: Runtime) -> None:
    """Friday 25 December: Mme Payet's Friday mornings skip it; a one-off opening put there (as the seed
    could) makes nothing either."""
    with runtime.db.transaction() as session:
        payet = adviser_id(session, "payet")
        assert slot_starts(session, runtime, payet, date(2026, 12, 18))
        assert slot_starts(session, runtime, payet, date(2026, 12, 25)) == []
        session.add(
            Opening(
                adviser_id=payet,
                venue_id=venue_id(session, "hotel-de-ville"),
                on_date=date(2026, 12, 25),
                start=time(14),
                end=time(16),
                slot_minutes=60,
            )
        )
        session.flush()
        assert (
            agenda.extend_slots(session, now=runtime.clock.now(), tz=runtime.settings.tz, weeks=4) == 0
        )  # the seed's weeks


def monday_opening(session: Session) -> Opening:
    payet = adviser_id(session, "payet")
    return session.exec(select(Opening).where(Opening.adviser_id == payet, Opening.weekday == 0)).one()


def test_shortening_hours_removes_free_slots_and_keeps_booked_ones_outside_the_hours(any_runtime: Runtime) -> None:
    runtime = any_runtime
    now, tz = runtime.clock.now(), runtime.settings.tz
    monday = date(2026, 12, 7)
    with runtime.db.transaction() as session:
        opening = monday_opening(session)
        payet = opening.adviser_id
        assert slot_starts(session, runtime, payet, monday) == [time(8, 30), time(9, 15), time(10), time(10, 45)]
        late = session.exec(
            select(Slot).where(Slot.adviser_id == payet, Slot.starts_at == local(runtime, monday, time(10, 45)))
        ).one()
        book(runtime, session, id_of(late))
        saved = openings.update_opening(
            session, id_of(opening), replace(openings.draft_of(opening), end=time(10)), actor_id=None, now=now, tz=tz
        )
        assert saved.slots.closed == 1
        assert saved.slots.deleted == 4 * 2 - 1  # 10:00 and 10:45 on the seed's four Mondays, but the booked one
    with runtime.db.transaction() as session:
        # 10:00 went everywhere; 10:45 went where nobody had booked it, and stays on 7 December, booked
        assert slot_starts(session, runtime, payet, monday) == [time(8, 30), time(9, 15), time(10, 45)]
        assert slot_starts(session, runtime, payet, date(2026, 12, 14)) == [time(8, 30), time(9, 15)]
        outside = agenda.outside_hours(session, now=now)
        assert [s.id for s in outside] == [late.id]
        assert late.id not in {v.slot.id for v in booking.free_slots(session, now, adviser_id=payet, limit=500)}
        # Giving the hours back reopens it
        opening = monday_opening(session)
        openings.update_opening(
            session,
            id_of(opening),
            replace(openings.draft_of(opening), end=time(11, 30)),
            actor_id=None,
            now=now,
            tz=tz,
        )
        assert agenda.outside_hours(session, now=now) == []
        assert slot_starts(session, runtime, payet, date(2026, 12, 14)) == [
            time(8, 30),
            time(9, 15),
            time(10),
            time(10, 45),
        ]


def test_a_slot_with_a_cancelled_appointment_is_closed_not_deleted(runtime: Runtime) -> None:
    now, tz = runtime.clock.now(), runtime.settings.tz
    with runtime.db.transaction() as session:
        opening = monday_opening(session)
        slot = session.exec(
            select(Slot).where(
                Slot.adviser_id == opening.adviser_id, Slot.starts_at == local(runtime, date(2026, 12, 7), time(8, 30))
            )
        ).one()
        appointment_id = book(runtime, session, id_of(slot))
        booking.cancel_appointment(
            session, appointment_id=appointment_id, resident_id=slot_resident(session, appointment_id), now=now
        )
        changes = openings.delete_opening(session, id_of(opening), actor_id=None, now=now, tz=tz)
        assert changes.closed == 1
        session.refresh(slot)
        assert slot.closed_at is not None and slot.booked == 0
        assert agenda.outside_hours(session, now=now) == []  # nobody to warn
        assert slot.id not in {
            v.slot.id for v in booking.free_slots(session, now, adviser_id=opening.adviser_id, limit=500)
        }
        assert slot_starts(session, runtime, opening.adviser_id, date(2026, 12, 14)) == []


def slot_resident(session: Session, appointment_id: int) -> int:
    from relai_bot.store.models import Appointment

    appointment = session.get(Appointment, appointment_id)
    assert appointment is not None
    return appointment.resident_id


def test_moving_an_opening_to_another_venue_moves_its_free_slots(runtime: Runtime) -> None:
    now, tz = runtime.clock.now(), runtime.settings.tz
    with runtime.db.transaction() as session:
        opening = monday_opening(session)
        heva = venue_id(session, "mediatheque-heva")
        openings.update_opening(
            session, id_of(opening), replace(openings.draft_of(opening), venue_id=heva), actor_id=None, now=now, tz=tz
        )
        venues = {
            s.venue_id
            for s in session.exec(select(Slot).where(Slot.adviser_id == opening.adviser_id))
            if s.starts_at.astimezone(tz).weekday() == 0
        }
        assert venues == {heva}
