"""Test residents (the simulator's): made on consent on a simulated channel, and left out of everything
that counts real people: broadcasts (the audience, the composer's preview), reminders, the staff's lists
of residents and call-backs. One rule: services.residents.real_residents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from relai_bot.services import booking, broadcasts, callbacks, reminders, residents, simulator, staff_residents
from relai_bot.services.errors import NotFound
from relai_bot.staff import compose
from relai_bot.store.models import OutboxMessage, Resident, Slot, id_of
from relai_bot.testing.driver import ConsoleChat, Driver
from relai_bot.turns import SIMULATED_CHANNELS
from relai_bot.wiring import Runtime
from tests.web.admin_support import make_account

DRAFT = broadcasts.BroadcastDraft(districts=["saint-laurent"], text="Un atelier CV jeudi à la médiathèque.")


async def pair(runtime: Runtime) -> tuple[ConsoleChat, ConsoleChat]:
    """A real resident on Telegram and a test resident in the simulator, both of Saint-Laurent, both booked
    and asking for a call back."""
    driver = Driver(runtime)
    real = await driver.onboarded("telegram", address="7001")
    test = await driver.onboarded("web_telegram", address=simulator.address_of(1))
    now = runtime.clock.now()
    with runtime.db.transaction() as session:  # slots in three days: every reminder is due after the booking
        later = select(Slot).where(Slot.starts_at >= now + timedelta(days=3), Slot.booked == 0)
        slots = session.exec(later.order_by(Slot.starts_at).limit(2)).all()
        for chat, slot in zip((real, test), slots, strict=True):
            resident_id = chat.turn.resident_id
            assert resident_id is not None
            booking.book_slot(
                session, resident_id=resident_id, slot_id=id_of(slot), scheme_id=None, channel=chat.channel, now=now
            )
    return real, test


def resident_of(runtime: Runtime, chat: ConsoleChat) -> Resident:
    with runtime.db.transaction() as session:
        found = residents.find_by_address(session, chat.channel, chat.address)
        assert found is not None
        session.expunge(found)
        return found


@pytest.mark.parametrize("channel", [*SIMULATED_CHANNELS, "telegram", "sms", "console"])
async def test_whoever_consents_on_a_simulated_channel_is_a_test_resident(runtime: Runtime, channel: str) -> None:
    chat = await Driver(runtime).onboarded(channel, address="+262692000001" if channel == "sms" else "staff-1")
    assert resident_of(runtime, chat).test is (channel in SIMULATED_CHANNELS)


async def test_broadcasts_and_their_preview_leave_test_residents_out(runtime: Runtime) -> None:
    real, _ = await pair(runtime)
    now = runtime.clock.now()
    real_id = resident_of(runtime, real).id
    with runtime.db.transaction() as session:
        found = broadcasts.audience(session, districts=["saint-laurent"], now=now, per_week=3)
        assert [r.resident_id for r in found.recipients] == [real_id]
        assert found.matched == 1 and found.excluded == {}
        shown = compose.preview(session, DRAFT, renderer=runtime.renderer, settings=runtime.settings, now=now)
        assert (shown.recipients, shown.matched, shown.by_channel) == (1, 1, {"telegram": 1})
        broadcast = broadcasts.create_broadcast(session, DRAFT, created_by="test", now=now, per_week=3)
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast.id)).all()
        assert [row.resident_id for row in rows] == [real_id] and broadcast.recipients == 1


async def test_reminders_leave_test_residents_out(runtime: Runtime) -> None:
    real, _ = await pair(runtime)
    now = runtime.clock.now()
    real_id = resident_of(runtime, real).id
    with runtime.db.transaction() as session:
        made = reminders.schedule_reminders(session, now, runtime.settings.tz, runtime.settings.reminder_schedule)
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).all()
    assert made == len(rows) > 0
    assert {row.resident_id for row in rows} == {real_id}


@pytest.mark.parametrize("role", ["admin", "staff"])
async def test_the_staff_lists_leave_test_residents_out(runtime: Runtime, role: str) -> None:
    real, test = await pair(runtime)
    account = make_account(runtime, f"{role}@mairie.re", role, districts=["saint-laurent"] if role == "staff" else None)
    real_id, test_id = resident_of(runtime, real).id, resident_of(runtime, test).id
    assert real_id is not None and test_id is not None
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        for resident_id in (real_id, test_id):
            callbacks.request_callback(
                session, resident_id=resident_id, phone="+262692000111", preferred_time="matin", topic=None, now=now
            )
        listed = staff_residents.list_residents(session, account)
        assert [row.id for row in listed.rows] == [real_id] and listed.total == 1
        assert [view.resident_id for view in callbacks.list_callbacks(session, account)] == [real_id]
        staff_residents.get_resident(session, account, real_id)
        with pytest.raises(NotFound):
            staff_residents.get_resident(session, account, test_id)


def test_one_predicate_says_who_is_real(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        real = residents.create_resident(session, "telegram", "7001", now)
        test = residents.create_resident(session, "web_sms", "staff-3", now)
        kept = session.exec(select(Resident.id).where(residents.real_residents())).all()
    assert kept == [real.id] and test.test and not real.test
