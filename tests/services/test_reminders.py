"""Reminders: due at the right local time, checked again before they go, with buttons that work.

Time travels with the injectable clock; messages go through the real python-telegram-bot client to
FakeTelegramServer, and the resident's button presses go through the real dispatcher and engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from relai_bot.clock import FrozenClock
from relai_bot.delivery.ticks import reminders_tick
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.sending.limits import ChannelLimits
from relai_bot.services import booking
from relai_bot.store.models import AdviserAddress, Appointment, ChannelAddress, OutboxMessage, Slot
from relai_bot.testing.driver import ConsoleChat, Driver
from relai_bot.time_settings import parse_offsets
from relai_bot.wiring import Runtime
from tests.delivery_support import PtbSender, buttons, sent_texts, telegram_sender

TZ = ZoneInfo("Indian/Reunion")
CHAT = 4242
FAST = {"telegram": ChannelLimits(rate=1000, chat_interval=0), "sms": ChannelLimits(rate=1000)}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


async def onboard(driver: Driver, address: str = str(CHAT), channel: str = "telegram") -> ConsoleChat:
    chat = driver.resident(channel, address)
    await chat.send("bonjour")
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Oui")
    await chat.tap("Saint-Laurent")
    await chat.tap("Plus tard")
    return chat


def book_at(runtime: Runtime, chat: ConsoleChat, starts: datetime) -> int:
    """Book the first slot starting at or after `starts` for the resident of `chat`."""
    with runtime.db.transaction() as session:
        slot = session.exec(select(Slot).where(Slot.starts_at >= starts).order_by(Slot.starts_at)).first()
        assert slot is not None
        resident_id = chat.turn.resident_id
        assert resident_id is not None
        appointment = booking.book_slot(
            session,
            resident_id=resident_id,
            slot_id=slot.id,
            scheme_id=None,
            channel="telegram",
            now=runtime.clock.now(),
        )
        return appointment.id  # type: ignore[return-value]


def appointment(runtime: Runtime, appointment_id: int) -> Appointment:
    with runtime.db.transaction() as session:
        found = session.get(Appointment, appointment_id)
        assert found is not None
        return found


def reminder_rows(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.db.transaction() as session:
        return list(
            session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder").order_by(OutboxMessage.due_at))
        )


@pytest.fixture
async def telegram() -> AsyncIterator[tuple]:
    async with telegram_sender() as pair:
        yield pair


def worker(runtime: Runtime, sender: PtbSender, **senders: object) -> DeliveryWorker:
    return DeliveryWorker(runtime, {"telegram": sender, **senders}, limits=FAST, poll_seconds=0.01)  # type: ignore[dict-item]


async def test_a_reminder_due_tomorrow_at_18_goes_at_18_not_before(runtime: Runtime, driver: Driver, telegram) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    chat = await onboard(driver)
    appointment_id = book_at(runtime, chat, local(2026, 12, 3, 9, 0))  # Thursday 9:15, the first slot from 9:00
    assert reminders_tick(runtime) == 2
    assert reminders_tick(runtime) == 0  # idempotent
    outbox_worker = worker(runtime, sender)
    await outbox_worker.drain()
    clock.set(local(2026, 12, 2, 17, 59, 59))  # Wednesday, one second early
    await outbox_worker.drain()
    assert sent_texts(srv, CHAT) == []
    clock.set(local(2026, 12, 2, 18, 0))
    await outbox_worker.drain()
    texts = sent_texts(srv, CHAT)
    assert len(texts) == 1
    assert "Rappel : vous avez rendez-vous jeudi 3 décembre à 9 h" in texts[0]
    labels = [label for label, _ in buttons(srv, CHAT)]
    assert labels == ["Je confirme", "J'annule", "Je change de créneau"]
    # The resident taps "Je confirme" hours later: an ordinary answer
    clock.advance(hours=2)
    await chat.press(buttons(srv, CHAT)[0][1])
    assert "Merci, c'est noté" in chat.text
    assert appointment(runtime, appointment_id).confirmed_at == local(2026, 12, 2, 20, 0)
    # The second reminder, 2 hours before (before the quiet hours end, but the same day's appointment)
    two_hours_before = appointment(runtime, appointment_id).starts_at - timedelta(hours=2)
    assert two_hours_before.astimezone(TZ).hour == 7
    clock.set(two_hours_before - timedelta(seconds=1))
    await outbox_worker.drain()
    assert len(sent_texts(srv, CHAT)) == 1
    clock.set(two_hours_before)
    await outbox_worker.drain()
    assert len(sent_texts(srv, CHAT)) == 2
    assert [r.status for r in reminder_rows(runtime)] == ["sent", "sent"]
    await outbox_worker.stop()


async def test_j_annule_cancels_and_the_next_reminder_is_skipped(runtime: Runtime, driver: Driver, telegram) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    chat = await onboard(driver)
    appointment_id = book_at(runtime, chat, local(2026, 12, 3, 9, 0))
    reminders_tick(runtime)
    outbox_worker = worker(runtime, sender)
    clock.set(local(2026, 12, 2, 18, 0))
    await outbox_worker.drain()
    await chat.press(buttons(srv, CHAT)[1][1])  # J'annule
    assert "Vous voulez vraiment annuler le rendez-vous jeudi 3 décembre à 9 h 15 ?" in chat.text
    await chat.tap("Oui, j'annule")
    assert "C'est annulé" in chat.text
    assert appointment(runtime, appointment_id).status == "cancelled"
    clock.set(local(2026, 12, 3, 7, 20))
    await outbox_worker.drain()
    assert len(sent_texts(srv, CHAT)) == 1
    rows = reminder_rows(runtime)
    assert [(r.status, r.error) for r in rows] == [("sent", None), ("skipped", "appointment_cancelled")]
    await outbox_worker.stop()


async def test_je_change_de_creneau_moves_and_the_new_time_gets_reminders(
    runtime: Runtime, driver: Driver, telegram
) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    chat = await onboard(driver)
    old_id = book_at(runtime, chat, local(2026, 12, 3, 9, 0))
    reminders_tick(runtime)
    outbox_worker = worker(runtime, sender)
    clock.set(local(2026, 12, 2, 18, 0))
    await outbox_worker.drain()
    await chat.press(buttons(srv, CHAT)[2][1])  # Je change de créneau
    assert "Choisissez le nouveau" in chat.text
    await chat.tap(1)
    await chat.tap("Oui, je change")
    assert appointment(runtime, old_id).status == "cancelled"
    with runtime.db.transaction() as session:
        moved = session.exec(select(Appointment).where(Appointment.status == "booked")).one()
    assert reminders_tick(runtime) >= 1  # the new appointment's reminders
    clock.set(local(2026, 12, 3, 7, 20))
    await outbox_worker.drain()
    old = [r for r in reminder_rows(runtime) if r.appointment_id == old_id]
    assert [r.status for r in old] == ["sent", "skipped"]
    new = [r for r in reminder_rows(runtime) if r.appointment_id == moved.id]
    assert new and all(r.due_at >= moved.booked_at for r in new)
    await outbox_worker.stop()


async def test_after_a_downtime_only_the_latest_useful_reminder_goes(
    runtime: Runtime, driver: Driver, telegram
) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    chat = await onboard(driver)
    book_at(runtime, chat, local(2026, 12, 3, 9, 0))
    reminders_tick(runtime)
    # Down from Wednesday 17:00 to Thursday 7:30: both reminders are due; the day-before one is superseded
    outbox_worker = worker(runtime, sender)
    clock.set(local(2026, 12, 3, 7, 40))
    await outbox_worker.drain()
    assert len(sent_texts(srv, CHAT)) == 1
    assert [(r.status, r.error) for r in reminder_rows(runtime)] == [("skipped", "superseded"), ("sent", None)]
    await outbox_worker.stop()


async def test_a_late_reminder_is_sent_late_and_a_useless_one_skipped(
    runtime: Runtime, driver: Driver, telegram
) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    chat = await onboard(driver)
    book_at(runtime, chat, local(2026, 12, 3, 9, 0))
    reminders_tick(runtime)
    outbox_worker = worker(runtime, sender)
    clock.set(local(2026, 12, 3, 6, 0))  # back on Thursday 6:00: the 18:00 one is late but useful
    await outbox_worker.drain()
    assert len(sent_texts(srv, CHAT)) == 1
    clock.set(local(2026, 12, 3, 8, 50))  # back again at 8:50: too close to the appointment, no use
    await outbox_worker.drain()
    assert len(sent_texts(srv, CHAT)) == 1
    assert [(r.status, r.error) for r in reminder_rows(runtime)] == [("sent", None), ("skipped", "expired")]
    await outbox_worker.stop()


async def test_no_reminder_for_a_moment_before_the_booking(runtime: Runtime, driver: Driver) -> None:
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    clock.set(local(2026, 12, 2, 19, 0))  # Wednesday 19:00, for Thursday 9:00
    chat = await onboard(driver)
    book_at(runtime, chat, local(2026, 12, 3, 9, 0))
    assert reminders_tick(runtime) == 1
    assert [r.key.rsplit(":", 1)[1] for r in reminder_rows(runtime)] == ["2h"]


async def test_a_cancelled_appointment_gets_no_reminder(runtime: Runtime, driver: Driver) -> None:
    chat = await onboard(driver)
    appointment_id = book_at(runtime, chat, local(2026, 12, 3, 9, 0))
    with runtime.db.transaction() as session:
        booking.cancel_appointment(
            session,
            appointment_id=appointment_id,
            resident_id=chat.turn.resident_id,
            now=runtime.clock.now(),  # type: ignore[arg-type]
        )
    assert reminders_tick(runtime) == 0


async def test_telegram_failing_for_good_falls_back_to_sms(sqlite_url: str, clock: FrozenClock, telegram) -> None:
    """Blocked on Telegram (403): the address is marked unreachable and the reminder goes by SMS, through the
    SMS channel and the real twilio client to FakeTwilioServer."""
    from tests.conftest import make_runtime
    from tests.delivery_support import add_address
    from tests.fakes.twilio_api import FakeTwilioServer
    from tests.sms_harness import sms_channel

    srv, sender = telegram
    async with FakeTwilioServer() as twilio:
        runtime = make_runtime(
            sqlite_url,
            clock,
            public_url="http://127.0.0.1:9",
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_from="+262939001122",
            twilio_api_url=twilio.base_url,
        )
        sms = sms_channel(runtime)
        await sms.start()
        try:
            chat = await onboard(Driver(runtime))
            add_address(runtime, chat.turn.resident_id, "sms", "+262692123456")  # type: ignore[arg-type]
            book_at(runtime, chat, local(2026, 12, 3, 9, 0))
            reminders_tick(runtime)
            srv.block_chat(CHAT)
            outbox_worker = worker(runtime, sender, sms=sms)
            clock.set(local(2026, 12, 2, 18, 0))
            await outbox_worker.drain()
            await outbox_worker.stop()
            assert sent_texts(srv, CHAT) == []
            texts = [m.body for m in twilio.messages if m.to == "+262692123456"]
            assert len(texts) == 1 and "jeudi 3 décembre" in texts[0]
            first = reminder_rows(runtime)[0]
            assert (first.status, first.channel) == ("sent", "sms")
            assert first.error is not None and first.error.startswith("telegram: unreachable")
            # Twilio's delivery report reaches the outbox row too
            from relai_bot.services.delivery_reports import record_status

            with runtime.db.transaction() as session:
                report = record_status(
                    session,
                    channel="sms",
                    provider_message_id=first.provider_message_id,  # type: ignore[arg-type]
                    status="delivered",
                    error_code=None,
                    now=clock.now(),
                )
            assert report.found and report.changed
            assert reminder_rows(runtime)[0].status == "delivered"
            with runtime.db.transaction() as session:
                telegram_address = session.exec(
                    select(ChannelAddress).where(ChannelAddress.channel == "telegram")
                ).one()
            assert telegram_address.unreachable_at is not None
        finally:
            await sms.stop()
            runtime.close()


async def test_a_reminder_that_reaches_no_channel_tells_the_adviser(runtime: Runtime, driver: Driver, telegram) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    chat = await onboard(driver)
    appointment_id = book_at(runtime, chat, local(2026, 12, 3, 9, 0))
    with runtime.db.transaction() as session:
        adviser_id = session.exec(
            select(Slot.adviser_id)
            .join(Appointment, Appointment.slot_id == Slot.id)
            .where(Appointment.id == appointment_id)
        ).one()
        session.add(AdviserAddress(adviser_id=adviser_id, channel="telegram", address="777", created_at=clock.now()))
    reminders_tick(runtime)
    srv.block_chat(CHAT)
    outbox_worker = worker(runtime, sender)
    clock.set(local(2026, 12, 2, 18, 0))
    await outbox_worker.drain()
    told = sent_texts(srv, 777)
    assert len(told) == 1 and "Rappel non reçu" in told[0] and "jeudi 3 décembre à 9 h" in told[0]
    # The next reminder finds no reachable address and says nothing more to the adviser (once per appointment)
    clock.set(local(2026, 12, 3, 7, 20))
    await outbox_worker.drain()
    assert len(sent_texts(srv, 777)) == 1
    assert [r.status for r in reminder_rows(runtime)] == ["failed", "skipped"]
    await outbox_worker.stop()


def test_offsets_are_parsed_and_checked() -> None:
    offsets = parse_offsets("1d@18:00, 2h,30m")
    start = local(2026, 12, 3, 9, 0)
    assert [o.due(start, TZ) for o in offsets] == [
        local(2026, 12, 2, 18, 0),
        local(2026, 12, 3, 7, 0),
        local(2026, 12, 3, 8, 30),
    ]
    assert parse_offsets("off") == []
    for bad in ("2x", "1d@25:00", "2h,2h", "1m"):
        with pytest.raises(ValueError):
            parse_offsets(bad)
    assert timedelta(hours=2) == offsets[1].before
