"""Absences: the adviser's slots in it go, each appointment booked then is moved to the nearest compatible
free slot (the adviser's own, else another adviser of the scheme) or cancelled, the resident told through
the outbox; deleting the absence brings the slots back. The demo seed, Tuesday 1 December 2026, 10:00."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlmodel import Session, col, select

from relai_bot.services import absences, booking
from relai_bot.services.absences import AbsenceDraft, AbsenceInvalid
from relai_bot.services.residents import create_resident
from relai_bot.store.models import Adviser, Appointment, AuditEvent, OutboxMessage, Scheme, Slot, id_of
from relai_bot.wiring import Runtime


def adviser(session: Session, code: str) -> int:
    return id_of(session.exec(select(Adviser).where(Adviser.code == code)).one())


def at(runtime: Runtime, day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=runtime.settings.tz).astimezone(UTC)


def book_at(
    runtime: Runtime, session: Session, adviser_id: int, starts: datetime, address: str, scheme: str | None = None
) -> Appointment:
    slot = session.exec(select(Slot).where(Slot.adviser_id == adviser_id, Slot.starts_at == starts)).one()
    resident = create_resident(session, "telegram", address, runtime.clock.now())
    scheme_id = id_of(session.exec(select(Scheme).where(Scheme.code == scheme)).one()) if scheme else None
    return booking.book_slot(
        session,
        resident_id=id_of(resident),
        slot_id=id_of(slot),
        scheme_id=scheme_id,
        channel="telegram",
        now=runtime.clock.now(),
    )


def whole_days(runtime: Runtime, adviser_id: int, first: date, days: int = 1) -> AbsenceDraft:
    return AbsenceDraft(adviser_id, at(runtime, first, time(0)), at(runtime, first + timedelta(days=days), time(0)))


def record(runtime: Runtime, session: Session, draft: AbsenceDraft) -> absences.AbsenceReport:
    return absences.record_absence(
        session, draft, actor_id=None, now=runtime.clock.now(), tz=runtime.settings.tz, follow_up_at=time(9)
    )


def notices(session: Session, resident_id: int) -> list[OutboxMessage]:
    return list(
        session.exec(
            select(OutboxMessage).where(OutboxMessage.resident_id == resident_id, OutboxMessage.kind == "notice")
        )
    )


def test_an_appointment_moves_to_the_advisers_nearest_compatible_slot(any_runtime: Runtime) -> None:
    """Mme Payet away on Monday 7 December: her 9:15 appointment at the town hall goes to a morning of
    hers three days away (Friday 4 December at 9:15, at Moulin Joli), never to an afternoon or a group
    session; the resident is told; the day's free slots are gone."""
    runtime = any_runtime
    monday = date(2026, 12, 7)
    with runtime.db.transaction() as session:
        payet = adviser(session, "payet")
        old = book_at(runtime, session, payet, at(runtime, monday, time(9, 15)), "4001")
        report = record(runtime, session, whole_days(runtime, payet, monday))
        assert report.cancelled == []
        [moved] = report.moved
        assert moved.adviser_id == payet and moved.starts_at == at(runtime, date(2026, 12, 4), time(9, 15))
        session.refresh(old)
        assert old.status == "service_cancelled"
        new = session.get(Appointment, moved.appointment_id)
        assert new is not None and new.status == "booked" and new.resident_id == old.resident_id
        [told] = notices(session, old.resident_id)
        assert told.channel == "telegram" and told.target_data.get("appointment_id") == new.id
        # No slot of hers on the Monday is offered, and the one that held the appointment is closed
        offered = booking.free_slots(session, runtime.clock.now(), adviser_id=payet, limit=500)
        assert not [v for v in offered if v.slot.starts_at.astimezone(runtime.settings.tz).date() == monday]
        left = session.exec(select(Slot).where(Slot.id == old.slot_id)).one()
        assert left.booked == 0 and left.closed_at is not None
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "absence.created")).one()


def test_with_the_adviser_away_for_weeks_another_adviser_of_the_scheme_takes_it(any_runtime: Runtime) -> None:
    runtime = any_runtime
    with runtime.db.transaction() as session:
        payet = adviser(session, "payet")
        old = book_at(runtime, session, payet, at(runtime, date(2026, 12, 7), time(9, 15)), "4002", scheme="pec")
        report = record(runtime, session, whole_days(runtime, payet, date(2026, 12, 2), days=60))
        [moved] = report.moved
        assert moved.adviser_id != payet
        new_slot = session.get(Slot, session.get(Appointment, moved.appointment_id).slot_id)  # type: ignore[union-attr]
        assert new_slot is not None and new_slot.capacity == 1
        assert new_slot.starts_at.astimezone(runtime.settings.tz).hour < 12  # a morning, like the old one
        serving = session.exec(select(Scheme).where(Scheme.code == "pec")).one()
        views = booking.free_slots(session, runtime.clock.now(), scheme_id=serving.id, adviser_id=moved.adviser_id)
        assert views  # the adviser it went to does serve the scheme
        assert len(notices(session, old.resident_id)) == 1


def test_with_no_free_slot_the_appointment_is_cancelled_and_the_resident_told(any_runtime: Runtime) -> None:
    """Mme Lebon, by phone only, away for two months: an appointment with no scheme has nowhere to go."""
    runtime = any_runtime
    with runtime.db.transaction() as session:
        lebon = adviser(session, "lebon")
        old = book_at(runtime, session, lebon, at(runtime, date(2026, 12, 7), time(9)), "4003")
        report = record(runtime, session, whole_days(runtime, lebon, date(2026, 12, 1), days=60))
        assert report.moved == [] and report.cancelled == [old.id]
        session.refresh(old)
        assert old.status == "service_cancelled"
        [told] = notices(session, old.resident_id)
        assert told.target_data.get("appointment_id") == old.id
        assert session.exec(select(Slot).where(Slot.adviser_id == lebon, Slot.closed_at == None)).all() == []  # noqa: E711


def test_a_group_session_moves_to_another_group_session(runtime: Runtime) -> None:
    wednesday = date(2026, 12, 2)
    with runtime.db.transaction() as session:
        payet = adviser(session, "payet")
        book_at(runtime, session, payet, at(runtime, wednesday, time(14)), "4004")
        [moved] = record(runtime, session, whole_days(runtime, payet, wednesday)).moved
        assert moved.starts_at == at(runtime, date(2026, 12, 9), time(14))
        assert session.get(Slot, session.get(Appointment, moved.appointment_id).slot_id).capacity == 12  # type: ignore[union-attr]


def test_deleting_an_absence_brings_the_slots_back_not_the_cancelled_appointments(any_runtime: Runtime) -> None:
    runtime = any_runtime
    now, tz = runtime.clock.now(), runtime.settings.tz
    thursday = date(2026, 12, 3)
    with runtime.db.transaction() as session:
        lebon = adviser(session, "lebon")
        payet = adviser(session, "payet")
        before = {s.starts_at for s in session.exec(select(Slot).where(Slot.adviser_id == payet))}
        old = book_at(runtime, session, payet, at(runtime, thursday, time(8, 30)), "4005")
        report = record(runtime, session, whole_days(runtime, payet, thursday))
        assert len(report.moved) == 1
        thursdays = [
            s for s in session.exec(select(Slot).where(Slot.adviser_id == payet, col(Slot.closed_at).is_(None)))
        ]
        assert not [s for s in thursdays if s.starts_at.astimezone(tz).date() == thursday]
        absences.delete_absence(session, id_of(report.absence), actor_id=None, now=now, tz=tz)
        open_slots = select(Slot).where(Slot.adviser_id == payet, col(Slot.closed_at).is_(None))
        after = {s.starts_at for s in session.exec(open_slots)}
        # The four morning slots are back, the one emptied by the move too
        assert {s.astimezone(tz).time() for s in after if s.astimezone(tz).date() == thursday} == {
            time(8, 30),
            time(9, 15),
            time(10),
            time(10, 45),
        }
        assert before <= after
        session.refresh(old)
        assert old.status == "service_cancelled"
        assert lebon  # the other adviser's agenda is untouched
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "absence.deleted")).one()


FORMS = {
    "no adviser": ({"adviser": ""}, "adviser"),
    "no first day": ({"start_date": ""}, "start_date"),
    "a bad last day": ({"end_date": "32/12/2026"}, "end_date"),
    "a bad time": ({"start_time": "25h"}, "start_time"),
    "a long reason": ({"reason": "x" * 201}, "reason"),
}


@pytest.mark.parametrize("change", FORMS.values(), ids=list(FORMS))
def test_a_form_that_cannot_be_read_names_its_field(runtime: Runtime, change: tuple[dict[str, str], str]) -> None:
    values, field = change
    form = {"adviser": "1", "start_date": "07/12/2026", "end_date": "", "start_time": "", "end_time": "", "reason": ""}
    with pytest.raises(AbsenceInvalid) as refused:
        absences.parse_absence(form | values, tz=runtime.settings.tz)
    assert refused.value.field == field


def test_a_form_reads_whole_days_and_hours(runtime: Runtime) -> None:
    tz = runtime.settings.tz
    day = absences.parse_absence({"adviser": "1", "start_date": "2026-12-07"}, tz=tz)
    assert (day.starts_at, day.ends_at) == (
        at(runtime, date(2026, 12, 7), time(0)),
        at(runtime, date(2026, 12, 8), time(0)),
    )
    hours = absences.parse_absence(
        {
            "adviser": "1",
            "start_date": "07/12/2026",
            "start_time": "13:30",
            "end_date": "09/12/2026",
            "end_time": "12h",
        },
        tz=tz,
    )
    assert (hours.starts_at, hours.ends_at) == (
        at(runtime, date(2026, 12, 7), time(13, 30)),
        at(runtime, date(2026, 12, 9), time(12)),
    )


def test_an_absence_ending_before_it_starts_or_already_over_is_refused(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        payet = adviser(session, "payet")
        backwards = AbsenceDraft(
            payet, at(runtime, date(2026, 12, 8), time(0)), at(runtime, date(2026, 12, 7), time(0))
        )
        over = AbsenceDraft(payet, at(runtime, date(2026, 11, 2), time(0)), at(runtime, date(2026, 11, 3), time(0)))
        for draft in (backwards, over):
            with pytest.raises(AbsenceInvalid) as refused:
                record(runtime, session, draft)
            assert refused.value.field == "end_date"
