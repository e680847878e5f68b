"""Residents for the back-office tests: consented, with addresses, answers, appointments and call-backs."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from relai_bot.services import booking, callbacks
from relai_bot.services.residents import create_resident
from relai_bot.store.models import District, Slot, id_of
from relai_bot.wiring import Runtime


def add_resident(
    runtime: Runtime,
    address: str,
    *,
    channel: str = "sms",
    district: str | None = "saint-laurent",
    name: str | None = None,
    age: str | None = None,
    situation: str | None = None,
    goal: str | None = None,
    seen_minutes_ago: int = 0,
) -> int:
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        resident = create_resident(session, channel, address, now)
        if district is not None:
            resident.district_id = session.exec(select(District.id).where(District.code == district)).one()
        resident.display_name = name
        resident.age_bracket, resident.situation, resident.goal = age, situation, goal
        resident.last_seen_at = now - timedelta(minutes=seen_minutes_ago)
        session.add(resident)
        return id_of(resident)


def book(runtime: Runtime, resident_id: int) -> int:
    """A future appointment for the resident; the slot's id."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        (view, *_) = booking.free_slots(session, now, limit=1)
        slot_id = id_of(view.slot)
        booking.book_slot(session, resident_id=resident_id, slot_id=slot_id, scheme_id=None, channel="sms", now=now)
        return slot_id


def booked_places(runtime: Runtime, slot_id: int) -> int:
    with runtime.db.transaction() as session:
        slot = session.get(Slot, slot_id)
        assert slot is not None
        return slot.booked


def ask_callback(
    runtime: Runtime, resident_id: int, phone: str | None = "+262692000111", topic: str | None = None
) -> int:
    with runtime.db.transaction() as session:
        request = callbacks.request_callback(
            session, resident_id=resident_id, phone=phone, preferred_time="matin", topic=topic, now=runtime.clock.now()
        )
        return id_of(request)
