"""The demo's fictional activity: loaded once, into a database without residents, around today."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func
from sqlmodel import col, select

from relai_bot.seed.demo_activity import UNSET_WITHIN, read_demo_residents
from relai_bot.store.models import Appointment, ChannelAddress, OutboxMessage, Resident, SchemeEvent, Slot
from relai_bot.wiring import Runtime, seed_demo_activity


def test_the_demo_activity_fills_the_agenda_around_today(runtime: Runtime) -> None:
    report = seed_demo_activity(runtime)
    now = runtime.clock.now()
    people = read_demo_residents().residents
    assert report.residents == len(people) >= 20
    with runtime.db.transaction() as session:
        appointments = list(session.exec(select(Appointment)))
        assert len(appointments) == report.appointments > 40
        statuses = Counter(a.status for a in appointments)
        assert statuses["attended"] and statuses["no_show"] and statuses["excused"]
        past_unset = [a for a in appointments if a.status == "booked" and a.ends_at <= now]
        assert past_unset, "some past appointments wait for their status (the agenda's banner)"
        assert all(now - a.ends_at <= UNSET_WITHIN for a in past_unset)
        assert any(a.starts_at > now and a.status == "booked" for a in appointments)
        assert all(a.booked_at < now and a.booked_at <= a.starts_at for a in appointments)
        # No slot holds more than its places, and a resident has one appointment a day at most
        for slot in session.exec(select(Slot).where(Slot.booked > 0)):
            holding = [a for a in appointments if a.slot_id == slot.id and a.status != "cancelled"]
            assert slot.booked == len(holding) <= slot.capacity
        days = Counter((a.resident_id, a.starts_at.date()) for a in appointments)
        assert max(days.values()) == 1
        reminders = session.exec(
            select(func.count()).where(OutboxMessage.kind == "reminder", OutboxMessage.status == "delivered")
        ).one()
        assert reminders == report.reminders > 0
        assert session.exec(select(func.count()).select_from(SchemeEvent)).one() > len(people)
        assert session.exec(select(func.count()).where(col(Resident.test).is_(True))).one() == 0
        # Fictional addresses only: Telegram ids of nobody, ARCEP's numbers for fiction
        for address in session.exec(select(ChannelAddress)):
            assert address.address.startswith("9100000") or address.address.startswith("+3363998")
    # Loaded once: residents exist now
    assert seed_demo_activity(runtime).residents == 0
