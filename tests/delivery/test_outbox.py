"""The outbox and its dispatcher: idempotent enqueue, leases, priorities, provider errors, crashes.

Sends go through the real python-telegram-bot client to FakeTelegramServer (429 with retry_after, 5xx,
timeouts, 403), and nothing may be lost; only a message in flight at a crash may go twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from relai_bot.clock import FrozenClock
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.sending.contract import SendFailure, SendResult
from relai_bot.sending.limits import ChannelLimits
from relai_bot.services import booking, outbox
from relai_bot.store.models import ChannelAddress, OutboxMessage, Resident, Slot
from relai_bot.wiring import Runtime
from tests.delivery_support import CountingSender, add_residents, statuses, telegram_sender

FAST = {"telegram": ChannelLimits(rate=1000, chat_interval=0, concurrency=8)}


def enqueue_broadcast_rows(runtime: Runtime, count: int, *, first_address: int = 10_000, key: str = "b") -> list[int]:
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        ids = add_residents(session, count, now, first_address=first_address)
        rows = [
            outbox.message_row(
                key=f"{key}:{rid}",
                kind="broadcast",
                channel="telegram",
                address=str(first_address + i),
                now=now,
                body=f"message {i}",
                resident_id=rid,
            )
            for i, rid in enumerate(ids)
        ]
        outbox.enqueue_many(session, rows)
    return ids


def rows(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.db.transaction() as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]


@pytest.fixture
async def telegram() -> AsyncIterator[tuple]:
    async with telegram_sender(enforce_rate_limits=False) as pair:
        yield pair


# -- the table --------------------------------------------------------------------------------------
def test_enqueueing_twice_makes_one_row(any_runtime: Runtime) -> None:
    now = any_runtime.clock.now()
    with any_runtime.db.transaction() as session:
        (rid,) = add_residents(session, 1, now)
        fields = dict(key="k:1", kind="notification", channel="telegram", address="1", now=now, resident_id=rid)
        assert outbox.enqueue(session, **fields) is True
        assert outbox.enqueue(session, **fields) is False
    with any_runtime.db.transaction() as session:
        assert outbox.enqueue(session, **fields) is False
        assert len(session.exec(select(OutboxMessage)).all()) == 1


def test_claims_are_leases_and_urgent_rows_come_first(any_runtime: Runtime) -> None:
    clock: FrozenClock = any_runtime.clock  # type: ignore[assignment]
    enqueue_broadcast_rows(any_runtime, 5)
    now = clock.now()
    with any_runtime.db.transaction() as session:
        rid = session.exec(select(Resident.id)).first()
        outbox.enqueue(
            session, key="r:1", kind="reminder", channel="telegram", address="10000", now=now, resident_id=rid
        )
    lease = timedelta(seconds=60)
    with any_runtime.db.transaction() as session:
        first = outbox.claim(session, channel="telegram", worker="a", now=now, lease=lease, limit=2)
    assert [r.kind for r in first] == ["reminder", "broadcast"]
    assert {(r.status, r.claimed_by, r.attempts) for r in first} == {("sending", "a", 0)}
    with any_runtime.db.transaction() as session:
        second = outbox.claim(session, channel="telegram", worker="b", now=now, lease=lease, limit=10)
        assert outbox.claim(session, channel="sms", worker="b", now=now, lease=lease, limit=10) == []
    assert len(second) == 4 and not {r.id for r in first} & {r.id for r in second}
    # a dies; its lease ends; b takes its rows back, each counting an attempt
    clock.advance(seconds=61)
    with any_runtime.db.transaction() as session:
        again = outbox.claim(session, channel="telegram", worker="b", now=clock.now(), lease=lease, limit=10)
    assert sorted(r.id for r in again) == sorted(r.id for r in first + second)
    assert {r.attempts for r in again} == {1}
    with any_runtime.db.transaction() as session:
        assert outbox.mark_sent(session, again[0].id, "x", clock.now()) is True  # type: ignore[arg-type]
        assert outbox.mark_sent(session, again[0].id, "x", clock.now()) is False  # type: ignore[arg-type]
        clock.advance(seconds=3600)
        rest = outbox.claim(session, channel="telegram", worker="c", now=clock.now(), lease=lease, limit=10)
    assert again[0].id not in {r.id for r in rest}  # a sent row is never claimed again


# -- provider errors ---------------------------------------------------------------------------------
async def test_a_429_waits_retry_after_without_counting_an_attempt(runtime: Runtime, telegram) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    enqueue_broadcast_rows(runtime, 1)
    srv.fail_next("sendMessage", status=429, retry_after=2)
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    (row,) = rows(runtime)
    assert (row.status, row.attempts, row.error_code) == ("pending", 0, "429")
    assert timedelta(seconds=2) <= row.next_attempt_at - clock.now() <= timedelta(seconds=2.4)
    clock.advance(seconds=1)
    await worker.drain()
    assert rows(runtime)[0].status == "pending"
    clock.advance(seconds=2)
    await worker.drain()
    assert rows(runtime)[0].status == "sent"
    assert len(srv.sent_messages(10_000)) == 1
    # the chat was paused as Telegram asked (real time: the fake's clock)
    refused, sent = srv.calls_to("sendMessage")
    assert sent.time - refused.time >= 2.0
    await worker.stop()


async def test_5xx_backs_off_then_fails_for_good_after_max_attempts(
    sqlite_url: str, clock: FrozenClock, telegram
) -> None:
    from tests.conftest import make_runtime

    srv, sender = telegram
    runtime = make_runtime(sqlite_url, clock, outbox_max_attempts=3)
    enqueue_broadcast_rows(runtime, 2)
    srv.fail_next("sendMessage", status=500, chat_id=10_000, times=10)
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    first, second = rows(runtime)
    assert (first.status, first.attempts) == ("pending", 1)
    assert second.status == "sent"
    assert timedelta(seconds=15) <= first.next_attempt_at - clock.now() <= timedelta(seconds=30)
    for _ in range(3):
        clock.advance(hours=1)
        await worker.drain()
    first = rows(runtime)[0]
    assert (first.status, first.attempts) == ("failed", 2)
    assert first.error is not None and "3 attempts" in first.error
    await worker.stop()
    runtime.close()


async def test_a_timeout_is_retried_and_nothing_is_lost(runtime: Runtime, telegram) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    enqueue_broadcast_rows(runtime, 3)
    srv.delay_next("sendMessage", 1.0)
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01, send_timeout=0.3)
    await worker.drain()
    assert statuses(runtime) == {"sent": 2, "pending": 1}
    clock.advance(minutes=5)
    await worker.drain()
    await asyncio.sleep(1.0)  # the slow request lands at the fake after all
    assert statuses(runtime) == {"sent": 3}
    sent = [c.chat_id for c in srv.sent_messages()]
    assert set(sent) == {10_000, 10_001, 10_002}
    assert len(sent) <= 4  # the timed-out one was in flight: it may have gone twice, nothing more
    await worker.stop()


async def test_403_marks_the_address_unreachable_and_broadcasts_skip_it(runtime: Runtime, telegram) -> None:
    srv, sender = telegram
    ids = enqueue_broadcast_rows(runtime, 2)
    srv.block_chat(10_000)
    srv.unknown_chats.add(10_001)
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    assert [(r.status, r.error) for r in rows(runtime)] == [
        ("failed", "telegram: unreachable: Forbidden: bot was blocked by the user"),
        ("failed", "telegram: unreachable: Chat not found"),
    ]
    with runtime.db.transaction() as session:
        assert all(a.unreachable_at is not None for a in session.exec(select(ChannelAddress)))
        assert all(session.get(Resident, rid).unreachable_at is not None for rid in ids)  # type: ignore[union-attr]
    await worker.stop()


async def test_stopped_at_the_provider_stops_the_resident(runtime: Runtime) -> None:
    class StoppedSender:
        name = "telegram"

        async def send(self, address: str, reply: object, *, proactive: bool = False) -> SendResult:
            raise SendFailure("stopped", "recipient opted out", code="21610")

    ids = enqueue_broadcast_rows(runtime, 1)
    enqueue_broadcast_rows(runtime, 0)
    with runtime.db.transaction() as session:
        outbox.enqueue(
            session,
            key="later",
            kind="reminder",
            channel="telegram",
            address="10000",
            now=runtime.clock.now(),
            resident_id=ids[0],
            due_at=runtime.clock.now() + timedelta(hours=1),
        )
    worker = DeliveryWorker(runtime, {"telegram": StoppedSender()}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    with runtime.db.transaction() as session:
        assert session.get(Resident, ids[0]).stopped_at is not None  # type: ignore[union-attr]
    runtime.clock.advance(hours=2)  # type: ignore[attr-defined]
    await worker.drain()
    assert [(r.status, r.error) for r in rows(runtime)] == [
        ("failed", "stopped: recipient opted out"),
        ("skipped", "stopped"),
    ]
    await worker.stop()


# -- crashes --------------------------------------------------------------------------------------
async def test_a_dispatcher_killed_mid_batch_loses_nothing(runtime: Runtime, telegram) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    enqueue_broadcast_rows(runtime, 120)
    slow = {"telegram": ChannelLimits(rate=200, chat_interval=0, concurrency=4)}
    first = DeliveryWorker(runtime, {"telegram": sender}, limits=slow, poll_seconds=0.01, worker_id="first")
    srv.delay_next("*", 0.05, times=1000)
    task = first.start()
    while len(srv.sent_messages()) < 30:
        await asyncio.sleep(0.01)
    first.kill()  # as a crash would: nothing given back, results not written
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.2)  # requests that were on the wire land
    srv.faults.clear()
    in_flight = {r.id for r in rows(runtime) if r.status == "sending"}
    assert in_flight, "the crash left claimed rows behind"
    second = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01, worker_id="second")
    await second.drain()
    assert {r.id for r in rows(runtime) if r.status == "sending"} == in_flight  # not before the lease ends
    clock.advance(seconds=runtime.settings.outbox_lease_seconds + 1)
    await second.drain()
    assert statuses(runtime) == {"sent": 120}
    per_chat: dict[int, int] = {}
    for call in srv.sent_messages():
        per_chat[call.chat_id] = per_chat.get(call.chat_id, 0) + 1  # type: ignore[index]
    assert set(per_chat) == set(range(10_000, 10_120))  # none lost
    twice = [chat for chat, n in per_chat.items() if n > 1]
    assert len(twice) <= len(in_flight)  # only rows claimed by the dead dispatcher may have gone twice
    await second.stop()


async def test_a_clean_stop_gives_claimed_rows_back(runtime: Runtime) -> None:
    enqueue_broadcast_rows(runtime, 40)
    sender = CountingSender(delay=0.05)
    worker = DeliveryWorker(
        runtime, {"telegram": sender}, limits={"telegram": ChannelLimits(rate=20, concurrency=2)}, poll_seconds=0.01
    )
    worker.start()
    while sender.calls < 5:
        await asyncio.sleep(0.01)
    await worker.stop()
    counts = statuses(runtime)
    assert "sending" not in counts
    assert counts["sent"] == sum(sender.sent.values()) and counts["sent"] + counts["pending"] == 40


async def test_rows_for_a_channel_without_a_sender_do_not_wait_forever(runtime: Runtime) -> None:
    """SMS is not configured here: a reminder moves to the resident's Telegram, a broadcast is skipped."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        both, sms_only = add_residents(session, 2, now, channel="sms", first_address=692000000)
        session.add(ChannelAddress(resident_id=both, channel="telegram", address="777", created_at=now))
        slot = session.exec(
            select(Slot).where(Slot.starts_at > now + timedelta(days=1)).order_by(Slot.starts_at)
        ).first()
        appointment = booking.book_slot(
            session,
            resident_id=both,
            slot_id=slot.id,
            scheme_id=None,
            channel="sms",
            now=now,  # type: ignore[union-attr]
        )
        outbox.enqueue_many(
            session,
            [
                outbox.message_row(
                    key="r",
                    kind="reminder",
                    channel="sms",
                    address="692000000",
                    now=now,
                    body="Rappel",
                    resident_id=both,
                    appointment_id=appointment.id,
                ),
                outbox.message_row(
                    key="b",
                    kind="broadcast",
                    channel="sms",
                    address="692000001",
                    now=now,
                    body="Forum",
                    resident_id=sms_only,
                ),
            ],
        )
    sender = CountingSender()
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    await worker.stop()
    by_key = {row.key: row for row in rows(runtime)}
    assert (by_key["r"].status, by_key["r"].channel, by_key["r"].address) == ("sent", "telegram", "777")
    assert sender.sent == {"777": 1}
    assert by_key["b"].status == "skipped" and "no sender configured" in (by_key["b"].error or "")
