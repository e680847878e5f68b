"""Booking is atomic: a slot's capacity is never exceeded, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import select

from relai_bot.services import booking
from relai_bot.services.errors import AlreadyBooked, AppointmentNotActive, SlotFull, SlotInPast
from relai_bot.services.residents import create_resident, erase_resident
from relai_bot.store.models import Appointment, Slot
from relai_bot.testing.driver import Driver
from relai_bot.wiring import Runtime

BOOKERS = 16


def make_residents(runtime: Runtime, n: int) -> list[int]:
    with runtime.db.transaction() as session:
        return [
            create_resident(session, "console", f"racer-{i}", runtime.clock.now()).id  # type: ignore[misc]
            for i in range(n)
        ]


def last_place_slot(runtime: Runtime, capacity: int = 1) -> int:
    """A future slot with `capacity` places, all free."""
    with runtime.db.transaction() as session:
        slot = session.exec(select(Slot).where(Slot.capacity == 1).order_by(Slot.starts_at).offset(3)).first()
        assert slot is not None
        slot.capacity = capacity
        session.add(slot)
        return slot.id  # type: ignore[return-value]


def try_book(runtime: Runtime, resident_id: int, slot_id: int, barrier: threading.Barrier) -> str:
    barrier.wait()
    try:
        with runtime.db.transaction() as session:
            booking.book_slot(
                session,
                resident_id=resident_id,
                slot_id=slot_id,
                scheme_id=None,
                channel="console",
                now=runtime.clock.now(),
            )
        return "booked"
    except SlotFull:
        return "full"


@pytest.mark.parametrize("capacity", [1, 3])
def test_concurrent_bookers_never_exceed_capacity(any_runtime: Runtime, capacity: int) -> None:
    residents = make_residents(any_runtime, BOOKERS)
    slot_id = last_place_slot(any_runtime, capacity)
    barrier = threading.Barrier(BOOKERS)
    with ThreadPoolExecutor(BOOKERS) as pool:
        outcomes = list(pool.map(lambda r: try_book(any_runtime, r, slot_id, barrier), residents))
    assert outcomes.count("booked") == capacity
    assert outcomes.count("full") == BOOKERS - capacity
    with any_runtime.db.transaction() as session:
        assert session.get(Slot, slot_id).booked == capacity
        booked = session.exec(select(Appointment).where(Appointment.slot_id == slot_id)).all()
        assert len(booked) == capacity


def test_database_refuses_overbooking_even_without_the_service(any_runtime: Runtime) -> None:
    slot_id = last_place_slot(any_runtime)
    with pytest.raises(Exception, match=r"(?i)check|constraint"), any_runtime.db.transaction() as session:
        slot = session.get(Slot, slot_id)
        slot.booked = slot.capacity + 1
        session.add(slot)


def test_no_two_appointments_at_overlapping_times(any_runtime: Runtime) -> None:
    (resident,) = make_residents(any_runtime, 1)
    with any_runtime.db.transaction() as session:
        horizon = any_runtime.clock.now() + timedelta(hours=2)
        slots = session.exec(select(Slot).where(Slot.starts_at >= horizon).order_by(Slot.starts_at, Slot.id)).all()
        first, overlapping = next(
            (a, b)
            for a in slots
            for b in slots
            if a.adviser_id != b.adviser_id and a.starts_at < b.ends_at and a.ends_at > b.starts_at
        )
        later = next(s for s in slots if s.starts_at >= first.ends_at)
        now = any_runtime.clock.now()
        booking.book_slot(session, resident_id=resident, slot_id=first.id, scheme_id=None, channel="console", now=now)
    with pytest.raises(AlreadyBooked), any_runtime.db.transaction() as session:
        booking.book_slot(
            session, resident_id=resident, slot_id=overlapping.id, scheme_id=None, channel="console", now=now
        )
    with any_runtime.db.transaction() as session:
        assert session.get(Slot, overlapping.id).booked == 0  # the failed attempt took nothing
        booking.book_slot(session, resident_id=resident, slot_id=later.id, scheme_id=None, channel="console", now=now)


def test_past_slots_and_cancelled_appointments(runtime: Runtime) -> None:
    (resident,) = make_residents(runtime, 1)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        soon = session.exec(
            select(Slot).where(Slot.starts_at >= now + timedelta(hours=2)).order_by(Slot.starts_at)
        ).first()
    with pytest.raises(SlotInPast), runtime.db.transaction() as session:
        booking.book_slot(
            session,
            resident_id=resident,
            slot_id=soon.id,
            scheme_id=None,
            channel="console",
            now=soon.starts_at - timedelta(minutes=30),
        )
    with runtime.db.transaction() as session:
        appointment = booking.book_slot(
            session, resident_id=resident, slot_id=soon.id, scheme_id=None, channel="console", now=now
        )
        booking.cancel_appointment(session, appointment_id=appointment.id, resident_id=resident, now=now)
    with pytest.raises(AppointmentNotActive), runtime.db.transaction() as session:
        booking.cancel_appointment(session, appointment_id=appointment.id, resident_id=resident, now=now)
    with runtime.db.transaction() as session:
        assert session.get(Slot, soon.id).booked == 0


async def test_two_residents_take_the_last_place_at_once(driver: Driver) -> None:
    """Through the whole engine: one gets the place, the other is offered the next free slots."""
    alice, bob = await driver.onboarded(), await driver.onboarded()
    for chat in (alice, bob):
        await chat.tap("Prendre rendez-vous")
        await chat.tap(1)
        await chat.tap(1)
    assert alice.text.splitlines()[1] == bob.text.splitlines()[1]  # the same slot
    first, second = await asyncio.gather(alice.tap("Oui, je réserve"), bob.tap("Oui, je réserve"))
    texts = sorted([first.text, second.text], key=lambda t: "réservé" not in t)
    assert "C'est réservé !" in texts[0]
    assert "vient d'être pris" in texts[1]
    assert "prochains rendez-vous libres" in texts[1]
    loser = alice if "pris" in alice.text else bob
    taken = loser.turns[-2].options[0].label
    assert taken not in loser.labels  # the slot just taken is no longer offered
    with driver.runtime.db.transaction() as session:
        booked = session.exec(select(Appointment)).all()
        assert len(booked) == 1
        assert session.get(Slot, booked[0].slot_id).booked == 1
    # The loser books the next slot offered
    await loser.tap(1)
    await loser.tap("Oui, je réserve")
    assert "C'est réservé !" in loser.text


def test_every_way_out_gives_the_place_back_once(any_runtime: Runtime) -> None:
    """Cancelling, moving and erasing the resident all free the place through booking.release_place."""
    runtime = any_runtime
    now = runtime.clock.now()
    first, second, third = make_residents(runtime, 3)
    slot_id = last_place_slot(runtime, capacity=3)
    with runtime.db.transaction() as session:
        other = session.exec(
            select(Slot).where(Slot.id != slot_id, Slot.starts_at > now + timedelta(days=1)).order_by(Slot.starts_at)
        ).first()
        assert other is not None and other.id is not None
        appointments = [
            booking.book_slot(session, resident_id=r, slot_id=slot_id, scheme_id=None, channel="console", now=now)
            for r in (first, second, third)
        ]
    with runtime.db.transaction() as session:
        booking.cancel_appointment(session, appointment_id=appointments[0].id, resident_id=first, now=now)  # type: ignore[arg-type]
        booking.move_appointment(
            session,
            appointment_id=appointments[1].id,
            resident_id=second,
            new_slot_id=other.id,
            now=now,  # type: ignore[arg-type]
        )
        erase_resident(session, third, now)
    with runtime.db.transaction() as session:
        assert session.get(Slot, slot_id).booked == 0  # type: ignore[union-attr]
        booking.release_place(session, slot_id)  # nothing left to give back: never below zero
        assert session.get(Slot, slot_id).booked == 0  # type: ignore[union-attr]
