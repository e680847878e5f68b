"""The waitlist: a freed place is offered in order, each resident with a time limit to take it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from relai_bot.clock import FrozenClock
from relai_bot.delivery.ticks import waitlist_tick
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.services import booking
from relai_bot.store.models import Adviser, Appointment, Scheme, Slot, Venue, WaitlistEntry
from relai_bot.testing.driver import ConsoleChat, Driver
from relai_bot.turns import Turn
from relai_bot.wiring import Runtime
from tests.delivery_support import buttons, sent_texts, telegram_sender
from tests.services.test_reminders import FAST, local, onboard


@pytest.fixture
async def telegram() -> AsyncIterator[tuple]:
    async with telegram_sender() as pair:
        yield pair


def full_slot(runtime: Runtime, holder: ConsoleChat) -> tuple[int, int]:
    """Thursday's first one-place slot at a verified venue, booked by `holder`: (slot id, appointment id).
    (The town hall's are not offered: its address is not verified.)"""
    with runtime.db.transaction() as session:
        slot = session.exec(
            select(Slot)
            .join(Venue, col(Venue.id) == Slot.venue_id)
            .where(Slot.starts_at >= local(2026, 12, 3, 9, 0), Slot.capacity == 1, Venue.verified == True)  # noqa: E712
            .order_by(Slot.starts_at)
        ).first()
        assert slot is not None
        appointment = booking.book_slot(
            session,
            resident_id=holder.turn.resident_id,
            slot_id=slot.id,
            scheme_id=None,
            channel="telegram",  # type: ignore[arg-type]
            now=runtime.clock.now(),
        )
        return slot.id, appointment.id  # type: ignore[return-value]


def join(runtime: Runtime, chat: ConsoleChat, **data: object) -> Turn:
    """What the booking flow does when no slot suits: the resident goes to the waitlist flow."""
    with runtime.db.transaction() as session:
        return runtime.engine.push(session, chat.channel, chat.address, "waitlist", "join", dict(data))


def cancel(runtime: Runtime, holder: ConsoleChat, appointment_id: int) -> None:
    with runtime.db.transaction() as session:
        booking.cancel_appointment(
            session,
            appointment_id=appointment_id,
            resident_id=holder.turn.resident_id,
            now=runtime.clock.now(),  # type: ignore[arg-type]
        )


async def test_a_freed_place_goes_down_the_line(runtime: Runtime, driver: Driver, telegram) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    holder, first, second = [await onboard(driver, str(chat)) for chat in (5000, 5001, 5002)]
    slot_id, appointment_id = full_slot(runtime, holder)
    assert "liste d'attente" in join(runtime, first, slot_id=slot_id).text
    clock.advance(minutes=1)
    join(runtime, second, slot_id=slot_id)
    join(runtime, second, slot_id=slot_id)  # twice: still one place in line
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    assert waitlist_tick(runtime) == {"expired": 0, "offered": 0}  # the slot is full
    cancel(runtime, holder, appointment_id)
    assert waitlist_tick(runtime) == {"expired": 0, "offered": 1}
    assert waitlist_tick(runtime) == {"expired": 0, "offered": 0}  # one free place, one offer
    await worker.drain()
    (offer,) = sent_texts(srv, 5001)
    assert "une place s'est libérée" in offer and "jeudi 3 décembre" in offer and "avant 12 h 01" in offer
    assert [label for label, _ in buttons(srv, 5001)] == ["Oui, je la prends", "Non merci"]
    assert sent_texts(srv, 5002) == []
    # The first one does not answer in time: the place goes to the second
    clock.advance(minutes=121)
    assert waitlist_tick(runtime) == {"expired": 1, "offered": 1}
    await worker.drain()
    assert len(sent_texts(srv, 5002)) == 1
    await first.press(buttons(srv, 5001)[0][1])
    assert "n'est plus disponible" in first.text
    await second.press(buttons(srv, 5002)[0][1])
    assert "C'est réservé !" in second.text
    with runtime.db.transaction() as session:
        assert session.get(Slot, slot_id).booked == 1  # type: ignore[union-attr]
        booked = session.exec(select(Appointment).where(Appointment.status == "booked")).one()
        assert booked.resident_id == second.turn.resident_id
        assert sorted(e.status for e in session.exec(select(WaitlistEntry))) == ["accepted", "expired"]
    await worker.stop()


async def test_declining_passes_the_place_on_at_once(runtime: Runtime, driver: Driver, telegram) -> None:
    srv, sender = telegram
    holder, first, second = [await onboard(driver, str(chat)) for chat in (5000, 5001, 5002)]
    slot_id, appointment_id = full_slot(runtime, holder)
    join(runtime, first, slot_id=slot_id)
    runtime.clock.advance(minutes=1)  # type: ignore[attr-defined]
    join(runtime, second, slot_id=slot_id)
    cancel(runtime, holder, appointment_id)
    waitlist_tick(runtime)
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    await first.press(buttons(srv, 5001)[1][1])  # Non merci
    assert "ira à quelqu'un d'autre" in first.text
    assert waitlist_tick(runtime)["offered"] == 1
    await worker.drain()
    assert len(sent_texts(srv, 5002)) == 1
    await worker.stop()


async def test_a_scheme_waitlist_gets_the_schemes_next_free_place(runtime: Runtime, driver: Driver) -> None:
    holder, waiting = await onboard(driver, "5000"), await onboard(driver, "5001")
    slot_id, appointment_id = full_slot(runtime, holder)
    with runtime.db.transaction() as session:
        slot = session.get(Slot, slot_id)
        adviser = session.get(Adviser, slot.adviser_id)  # type: ignore[union-attr]
        assert adviser is not None and adviser.code == "techer"  # at the Moulin Joli social centre
        pec = session.exec(select(Scheme).where(Scheme.code == "citeslab")).one()
        # every other place is taken: only the one about to be freed will do
        for other in session.exec(select(Slot).where(Slot.id != slot_id)):
            other.booked = other.capacity
            session.add(other)
    join(runtime, waiting, scheme_code=pec.code)
    assert waitlist_tick(runtime)["offered"] == 0
    cancel(runtime, holder, appointment_id)
    assert waitlist_tick(runtime)["offered"] == 1
    with runtime.db.transaction() as session:
        entry = session.exec(select(WaitlistEntry)).one()
        assert (entry.status, entry.offered_slot_id, entry.scheme_id) == ("offered", slot_id, pec.id)


async def test_no_offer_is_made_at_night(runtime: Runtime, driver: Driver) -> None:
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    holder, waiting = await onboard(driver, "5000"), await onboard(driver, "5001")
    slot_id, appointment_id = full_slot(runtime, holder)
    join(runtime, waiting, slot_id=slot_id)
    clock.set(local(2026, 12, 1, 21, 0))
    cancel(runtime, holder, appointment_id)
    assert waitlist_tick(runtime)["offered"] == 0
    clock.set(local(2026, 12, 2, 8, 0))
    assert waitlist_tick(runtime)["offered"] == 1
    with runtime.db.transaction() as session:
        entry = session.exec(select(WaitlistEntry)).one()
        assert entry.offer_expires_at == local(2026, 12, 2, 8, 0) + timedelta(minutes=120)


async def test_a_place_at_a_venue_not_verified_is_never_offered(runtime: Runtime, driver: Driver) -> None:
    holder, waiting = await onboard(driver, "5000"), await onboard(driver, "5001")
    slot_id, appointment_id = full_slot(runtime, holder)
    join(runtime, waiting, slot_id=slot_id)
    with runtime.db.transaction() as session:
        slot = session.get(Slot, slot_id)
        venue = session.get(Venue, slot.venue_id)  # type: ignore[union-attr]
        assert venue is not None
        venue.verified = False  # the commune is no longer sure of it
    cancel(runtime, holder, appointment_id)
    assert waitlist_tick(runtime)["offered"] == 0
    with runtime.db.transaction() as session:
        assert session.exec(select(WaitlistEntry)).one().status == "waiting"
