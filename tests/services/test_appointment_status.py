"""What the service does to an appointment (services/appointment_status.py): which status may follow which,
the place given back, the resident told — by the real delivery engine, the real python-telegram-bot client
and the fake Bot API — and the no-show follow-up the next morning, skipped once it is of no use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from relai_bot.clock import FrozenClock
from relai_bot.delivery.ticks import waitlist_tick
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.services import appointment_status as status
from relai_bot.services import booking
from relai_bot.services.errors import AppointmentNotActive
from relai_bot.store.models import Appointment, AuditEvent, ChannelAddress, OutboxMessage, Slot, WaitlistEntry
from relai_bot.testing.driver import Driver
from relai_bot.wiring import Runtime
from tests.delivery_support import buttons, sent_texts, telegram_sender
from tests.services.test_reminders import FAST, local, onboard
from tests.services.test_waitlist import full_slot, join

TZ = ZoneInfo("Indian/Reunion")
NINE = time(9, 0)


@pytest.fixture
async def telegram() -> AsyncIterator[tuple]:
    async with telegram_sender() as pair:
        yield pair


def _set(runtime: Runtime, appointment_id: int, value: str, follow_up_at: time | None = NINE) -> Appointment:
    with runtime.db.transaction() as session:
        return status.set_status(
            session,
            appointment_id=appointment_id,
            status=value,
            actor_id=None,
            now=runtime.clock.now(),
            tz=TZ,
            follow_up_at=follow_up_at,
        )


def _appointment(runtime: Runtime, appointment_id: int) -> Appointment:
    with runtime.db.transaction() as session:
        found = session.get(Appointment, appointment_id)
        assert found is not None
        return found


def _booked(runtime: Runtime, slot_id: int) -> int:
    with runtime.db.transaction() as session:
        slot = session.get(Slot, slot_id)
        assert slot is not None
        return slot.booked


def test_the_rules_of_which_status_follows_which() -> None:
    now = local(2026, 12, 3, 10, 0)
    later = Appointment(
        resident_id=1, slot_id=1, starts_at=now + timedelta(hours=1), ends_at=now, booked_at=now, channel="sms"
    )
    started = Appointment(
        resident_id=1, slot_id=1, starts_at=now - timedelta(minutes=5), ends_at=now, booked_at=now, channel="sms"
    )
    cases = [
        (later, "booked", ("service_cancelled", "excused")),
        (later, "excused", ()),  # excused before it started: the place went back, nothing more to set
        (later, "cancelled", ()),
        (started, "booked", ("attended", "no_show", "excused")),
        (started, "no_show", ("attended", "excused")),  # a mistake can be corrected
        (started, "attended", ("no_show", "excused")),
        (started, "excused", ("attended", "no_show")),
        (started, "cancelled", ()),
        (started, "service_cancelled", ()),
    ]
    for appointment, current, expected in cases:
        appointment.status = current
        assert status.allowed_statuses(appointment, now) == expected, (current, appointment.starts_at > now)


async def test_cancelled_by_the_service_frees_the_place_and_tells_the_resident(
    runtime: Runtime, driver: Driver, telegram
) -> None:
    srv, sender = telegram
    holder, waiting = await onboard(driver, "6000"), await onboard(driver, "6001")
    slot_id, appointment_id = full_slot(runtime, holder)
    join(runtime, waiting, slot_id=slot_id)
    with pytest.raises(status.StatusNotAllowed):
        _set(runtime, appointment_id, "no_show")  # it has not taken place
    _set(runtime, appointment_id, "service_cancelled")
    assert _appointment(runtime, appointment_id).status == "service_cancelled"
    assert _booked(runtime, slot_id) == 0
    with pytest.raises(status.StatusNotAllowed):
        _set(runtime, appointment_id, "excused")  # final
    assert waitlist_tick(runtime)["offered"] == 1  # the freed place goes to the one waiting
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    (notice,) = sent_texts(srv, 6000)
    assert "annulé par le service" in notice and "jeudi 3 décembre" in notice
    labels = [label for label, _ in buttons(srv, 6000)]
    assert labels[-3:] == ["Voir d'autres horaires", "Être rappelé", "Revenir au menu"]
    assert 1 <= len(labels) - 3 <= 3 and all("décembre" in label for label in labels[:-3])  # the next free slots
    # A slot offered with the notice leads to the booking flow's confirmation
    await holder.press(buttons(srv, 6000)[0][1])
    assert "Je résume votre rendez-vous" in holder.text and "Je réserve ?" in holder.text
    assert len(sent_texts(srv, 6001)) == 1  # the waitlist offer
    with runtime.db.transaction() as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == status.STATUS_CHANGED)).all()
        assert event.target == f"appointment:{appointment_id}"
        assert event.detail == {"from": "booked", "to": "service_cancelled"}
        assert session.exec(select(WaitlistEntry.status)).all() == ["offered"]
    await worker.stop()


async def test_a_no_show_gets_a_kind_word_the_next_morning_with_new_slots(
    runtime: Runtime, driver: Driver, telegram
) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    holder = await onboard(driver, "6100")
    slot_id, appointment_id = full_slot(runtime, holder)
    start = _appointment(runtime, appointment_id).starts_at
    with pytest.raises(status.StatusNotAllowed):
        _set(runtime, appointment_id, "attended")  # not yet
    clock.set(start + timedelta(hours=3))
    _set(runtime, appointment_id, "no_show")
    assert _booked(runtime, slot_id) == 1  # the time is gone: the place is not given back
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    assert sent_texts(srv, 6100) == []  # not today
    with runtime.db.transaction() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "notice")).one()
    assert row.due_at == status.next_morning(clock.now(), TZ, NINE)
    assert row.due_at.astimezone(TZ).hour == 9 and row.due_at.astimezone(TZ).date() == start.astimezone(
        TZ
    ).date() + timedelta(days=1)
    clock.set(row.due_at + timedelta(seconds=1))
    await worker.drain()
    (kind_word,) = sent_texts(srv, 6100)
    assert "Nous ne vous avons pas vu" in kind_word and "Ce n'est pas grave" in kind_word
    assert [label for label, _ in buttons(srv, 6100)][-1] == "Non merci"
    await worker.stop()


async def test_a_corrected_no_show_sends_nothing(runtime: Runtime, driver: Driver, telegram) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    holder = await onboard(driver, "6200")
    _slot_id, appointment_id = full_slot(runtime, holder)
    clock.set(_appointment(runtime, appointment_id).ends_at + timedelta(minutes=10))
    _set(runtime, appointment_id, "no_show")
    _set(runtime, appointment_id, "attended")  # marked absent by mistake
    clock.advance(days=1)
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    assert sent_texts(srv, 6200) == []
    with runtime.db.transaction() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "notice")).one()
        assert (row.status, row.error) == ("skipped", "status_corrected")
    await worker.stop()


def _notices(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.db.transaction() as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "notice")))


async def test_no_follow_up_when_turned_off_or_marked_long_after(runtime: Runtime, driver: Driver) -> None:
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    holder = await onboard(driver, "6400")
    _slot_id, appointment_id = full_slot(runtime, holder)
    ends = _appointment(runtime, appointment_id).ends_at
    clock.set(ends + timedelta(minutes=10))
    _set(runtime, appointment_id, "no_show", follow_up_at=None)  # RELAI_NO_SHOW_FOLLOW_UP=off
    assert _notices(runtime) == []
    _set(runtime, appointment_id, "attended")
    clock.set(ends + status.FOLLOW_UP_WITHIN + timedelta(hours=1))
    _set(runtime, appointment_id, "no_show")  # filled in more than a week later: no message out of the blue
    assert _notices(runtime) == []


async def test_a_no_show_who_booked_again_gets_no_follow_up(runtime: Runtime, driver: Driver, telegram) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    holder = await onboard(driver, "6300")
    _slot_id, appointment_id = full_slot(runtime, holder)
    clock.set(_appointment(runtime, appointment_id).ends_at + timedelta(minutes=10))
    _set(runtime, appointment_id, "no_show")
    with runtime.db.transaction() as session:  # the resident books again on their own, the same day
        later = session.exec(
            select(Slot)
            .where(Slot.starts_at > clock.now() + timedelta(days=2), Slot.booked == 0)
            .order_by(col(Slot.starts_at))
        ).first()
        assert later is not None
        booking.book_slot(
            session,
            resident_id=holder.turn.resident_id,
            slot_id=later.id,
            scheme_id=None,
            channel="telegram",  # type: ignore[arg-type]
            now=clock.now(),
        )
    clock.advance(days=1)
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    assert sent_texts(srv, 6300) == []
    (row,) = _notices(runtime)
    assert (row.status, row.error) == ("skipped", "already_rebooked")
    await worker.stop()


async def test_notes_are_kept_trimmed_and_audited_without_their_text(runtime: Runtime, driver: Driver) -> None:
    holder = await onboard(driver, "6500")
    _slot_id, appointment_id = full_slot(runtime, holder)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        status.set_note(
            session,
            appointment_id=appointment_id,
            note="  Cherche un CAP cuisine.\r\nRappeler lundi  ",
            actor_id=None,
            now=now,
        )
    assert _appointment(runtime, appointment_id).adviser_note == "Cherche un CAP cuisine.\nRappeler lundi"
    with pytest.raises(status.NoteTooLong), runtime.db.transaction() as session:
        status.set_note(session, appointment_id=appointment_id, note="x" * 2001, actor_id=None, now=now)
    with runtime.db.transaction() as session:
        status.set_note(session, appointment_id=appointment_id, note="   ", actor_id=None, now=now)
        events = session.exec(select(AuditEvent).where(AuditEvent.action == status.NOTE_CHANGED)).all()
    assert _appointment(runtime, appointment_id).adviser_note is None
    assert [e.detail for e in events] == [{"length": 38}, {"length": 0}]
    assert all("CAP" not in str(e.detail) + e.target for e in events)


async def test_moving_by_the_service_keeps_the_note_and_tells_the_resident(
    runtime: Runtime, driver: Driver, telegram
) -> None:
    srv, sender = telegram
    holder = await onboard(driver, "6600")
    slot_id, appointment_id = full_slot(runtime, holder)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        status.set_note(session, appointment_id=appointment_id, note="Apporter le CV", actor_id=None, now=now)
        other = session.exec(
            select(Slot)
            .where(Slot.id != slot_id, Slot.booked == 0, Slot.starts_at > now + timedelta(days=1))
            .order_by(col(Slot.starts_at))
        ).first()
        assert other is not None
        other_id = other.id
        moved = status.move_by_service(
            session, appointment_id=appointment_id, new_slot_id=other_id, actor_id=None, now=now
        )
        moved_id = moved.id
    assert _appointment(runtime, appointment_id).status == "service_cancelled"
    assert (_appointment(runtime, moved_id).status, _appointment(runtime, moved_id).adviser_note) == (
        "booked",
        "Apporter le CV",
    )
    assert (_booked(runtime, slot_id), _booked(runtime, other_id)) == (0, 1)
    with pytest.raises(AppointmentNotActive), runtime.db.transaction() as session:
        status.move_by_service(session, appointment_id=appointment_id, new_slot_id=slot_id, actor_id=None, now=now)
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    (notice,) = sent_texts(srv, 6600)
    assert "change d'horaire" in notice and "Nouveau rendez-vous" in notice
    assert [label for label, _ in buttons(srv, 6600)] == ["D'accord", "Changer d'horaire", "Annuler ce rendez-vous"]
    await worker.stop()


def test_next_morning_skips_sundays_and_holidays() -> None:
    saturday_evening = local(2026, 12, 19, 20, 0)  # Sunday 20 December is also a public holiday here
    assert status.next_morning(saturday_evening, TZ, NINE) == local(2026, 12, 21, 9, 0)
    thursday_night = local(2026, 12, 3, 23, 30)
    assert status.next_morning(thursday_night, TZ, NINE) == local(2026, 12, 4, 9, 0)
    friday = local(2026, 12, 24, 15, 0)  # 25 December: Christmas
    assert status.next_morning(friday, TZ, NINE) == local(2026, 12, 26, 9, 0)


async def test_by_sms_the_follow_up_is_within_budget_and_its_numbers_work(sqlite_url: str, clock: FrozenClock) -> None:
    """Measured as the resident receives it (options included), through the SMS channel, the real twilio
    client and the fake Twilio server; answering a slot's number leads to the booking's confirmation."""
    from tests.sms_harness import sms_stack

    async with sms_stack(sqlite_url, clock) as stack:
        runtime = stack.runtime
        phone = await stack.onboarded()
        holder = SimpleNamespace(turn=SimpleNamespace(resident_id=_resident_of(runtime, phone.number)))
        _slot_id, appointment_id = full_slot(runtime, holder)  # type: ignore[arg-type]
        clock.set(_appointment(runtime, appointment_id).ends_at + timedelta(minutes=30))
        _set(runtime, appointment_id, "no_show")
        clock.set(status.next_morning(clock.now(), TZ, NINE) + timedelta(seconds=1))
        before = len(stack.sent_to(phone.number))
        worker = DeliveryWorker(runtime, {"sms": stack.channel}, limits=FAST, poll_seconds=0.01)
        await worker.drain()
        await worker.stop()
        # the kind word, then the slots with the options (one SMS when they fit beside it: here, 3 places)
        sent = stack.sent_to(phone.number)[before:]
        assert 1 <= len(sent) <= 2
        for message in sent:
            assert message.segments <= runtime.settings.sms_max_segments and message.encoding == "GSM-7", message.body
        assert "Nous ne vous avons pas vu" in sent[0].body
        phone.last_batch = sent
        labels = phone.labels
        assert labels[-1] == "Non merci" and len(labels) >= 4
        await phone.send("1")
        assert "Je reserve ?" in phone.text  # transliterated to GSM-7
        stack.assert_clean()


def _resident_of(runtime: Runtime, number: str) -> int:
    with runtime.db.transaction() as session:
        return session.exec(select(ChannelAddress.resident_id).where(ChannelAddress.address == number)).one()


async def test_every_status_fits_its_column_on_both_databases(any_runtime: Runtime) -> None:
    """ "service_cancelled" is the longest status: PostgreSQL refuses what does not fit its column."""
    driver = Driver(any_runtime)
    clock: FrozenClock = any_runtime.clock  # type: ignore[assignment]
    first, second = await onboard(driver, "6700"), await onboard(driver, "6701")
    _slot, cancelled = full_slot(any_runtime, first)
    _set(any_runtime, cancelled, "service_cancelled")
    with any_runtime.db.transaction() as session:
        other = session.exec(
            select(Slot)
            .where(Slot.booked == 0, Slot.starts_at > clock.now() + timedelta(days=1))
            .order_by(col(Slot.starts_at))
        ).first()
        assert other is not None
        appointment = booking.book_slot(
            session,
            resident_id=second.turn.resident_id,
            slot_id=other.id,
            scheme_id=None,  # type: ignore[arg-type]
            channel="telegram",
            now=clock.now(),
        )
        appointment_id = appointment.id
    clock.set(_appointment(any_runtime, appointment_id).ends_at + timedelta(minutes=5))  # type: ignore[arg-type]
    for value in ("no_show", "excused", "attended"):
        _set(any_runtime, appointment_id, value)  # type: ignore[arg-type]
    assert _appointment(any_runtime, cancelled).status == "service_cancelled"
    assert _appointment(any_runtime, appointment_id).status == "attended"  # type: ignore[arg-type]
