"""A broadcast to 10,000 residents through the dispatcher, against a fake Bot API enforcing Telegram's limits.

    .venv/bin/python -m bench.broadcast [--recipients 10000] [--faults 0.01] [--database sqlite|postgres]

FakeTelegramServer (30 messages/s overall, 1/s per chat, 429 with retry_after beyond) runs in its own
process; the real python-telegram-bot client sends. Some chats answer an injected 429 once. Halfway, a
reminder is enqueued for another resident. Prints the achieved rate as a fraction of the limit, lost and
duplicated messages, the server's flood refusals (per-chat and overall), and the reminder's delay.
`make bench` runs it (`measure`) with fewer recipients, to keep within its time.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import multiprocessing
import random
import time
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection

from sqlalchemy import func
from sqlmodel import select
from telegram import Bot
from telegram.request import HTTPXRequest
from tests.delivery_support import PtbSender, add_residents
from tests.fakes.telegram_api import FakeTelegramServer

from bench._common import seeded_runtime
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.entry_points import REMINDER
from relai_bot.services import booking, broadcast_reports, broadcasts, outbox
from relai_bot.store.models import Appointment, OutboxMessage, Slot
from relai_bot.wiring import Runtime

FIRST_CHAT = 1_000_000
REMINDER_CHAT = 999


def bench_runtime(database: str) -> AbstractContextManager[Runtime]:
    """A runtime on a fresh database with the demo data; quiet hours off (the benchmark may run at night)."""
    return seeded_runtime(database, quiet_hours="off", broadcasts_per_week=50)


@dataclass(frozen=True)
class Call:
    chat_id: int | str | None
    time: float  # time.monotonic() in the server process (the same clock system-wide on Linux)
    status: int


@dataclass(frozen=True)
class ServerRecord:
    calls: list[Call]
    refusals: list[str]  # the server's flood refusals (its violations), by detail


def serve_fake(conn: Connection, faulty: list[int]) -> None:
    """FakeTelegramServer in a process of its own, as Telegram is another machine: the dispatcher's work
    never delays the server's clock. Some chats answer an injected 429 once. Stops on any message."""

    async def main() -> None:
        async with FakeTelegramServer() as srv:
            for chat in faulty:
                srv.fail_next("sendMessage", status=429, retry_after=2, chat_id=chat)
            conn.send((srv.base_url, srv.base_file_url))
            await asyncio.to_thread(conn.recv)
            calls = [Call(c.chat_id, c.time, c.status) for c in srv.calls if c.method == "sendMessage"]
            conn.send(ServerRecord(calls, [v.detail for v in srv.violations]))

    asyncio.run(main())


def prepare(runtime: Runtime, recipients: int) -> tuple[int, int]:
    """The residents, the broadcast, and a resident with an appointment tomorrow (for the reminder)."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        add_residents(session, recipients, now, first_address=FIRST_CHAT)
        sent = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text="Forum de l'emploi samedi à la mairie."),
            created_by="bench",
            now=now,
            per_week=50,
        )
        (resident_id,) = add_residents(session, 1, now, district="moulin-joli", first_address=REMINDER_CHAT)
        slot = session.exec(
            select(Slot).where(Slot.starts_at > now + timedelta(days=1)).order_by(Slot.starts_at)
        ).first()
        assert slot is not None
        appointment = booking.book_slot(
            session,
            resident_id=resident_id,
            slot_id=slot.id,
            scheme_id=None,
            channel="telegram",
            now=now,  # type: ignore[arg-type]
        )
    assert sent.recipients == recipients, sent
    return sent.id, appointment.id  # type: ignore[return-value]


def enqueue_reminder(runtime: Runtime, appointment_id: int, chat: int) -> None:
    """A reminder due now, as the reminders tick would enqueue it (it goes through Engine.push)."""
    with runtime.db.transaction() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        outbox.enqueue(
            session,
            key=f"reminder:{appointment_id}:bench",
            kind="reminder",
            channel="telegram",
            address=str(chat),
            now=runtime.clock.now(),
            resident_id=appointment.resident_id,
            appointment_id=appointment_id,
            target=REMINDER.target(appointment_id=appointment_id),
        )


def remaining(runtime: Runtime, broadcast_id: int) -> int:
    with runtime.db.transaction() as session:
        return session.exec(
            select(func.count()).where(
                OutboxMessage.broadcast_id == broadcast_id,
                OutboxMessage.status.in_(("pending", "sending")),  # type: ignore[attr-defined]
            )
        ).one()


async def measure(recipients: int, faults: float, database: str, *, progress: bool = True) -> dict[str, float]:
    with bench_runtime(database) as runtime:
        broadcast_id, appointment_id = prepare(runtime, recipients)
        faulty = random.Random(7).sample(range(FIRST_CHAT, FIRST_CHAT + recipients), int(recipients * faults))
        ours, theirs = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(target=serve_fake, args=(theirs, faulty), daemon=True)
        server.start()
        base_url, base_file_url = ours.recv()
        request = HTTPXRequest(connection_pool_size=16, pool_timeout=30.0)
        async with Bot("123:ABC", base_url=base_url, base_file_url=base_file_url, request=request) as bot:
            worker = DeliveryWorker(runtime, {"telegram": PtbSender(bot)})
            started = time.monotonic()
            worker.start()
            reminder_at: float | None = None
            next_report = 30.0
            while True:
                await asyncio.sleep(0.5)
                left = await asyncio.to_thread(remaining, runtime, broadcast_id)
                if reminder_at is None and left <= recipients // 2:
                    await asyncio.to_thread(enqueue_reminder, runtime, appointment_id, REMINDER_CHAT)
                    reminder_at = time.monotonic()
                    worker.notify()
                if left == 0:
                    break
                elapsed = time.monotonic() - started
                if progress and elapsed >= next_report:
                    print(f"  {elapsed:5.0f} s: {recipients - left} sent", flush=True)
                    next_report += 30.0
            await asyncio.sleep(0.5)
            await worker.stop()
        ours.send("stop")
        record: ServerRecord = ours.recv()
        server.join()
        return report(runtime, record, broadcast_id, recipients, set(faulty), reminder_at, progress)


def report(
    runtime: Runtime,
    record: ServerRecord,
    broadcast_id: int,
    recipients: int,
    faulty: set[int],
    reminder_at: float | None,
    verbose: bool = True,
) -> dict[str, float]:
    ok = [c for c in record.calls if c.status == 200]
    per_chat = Counter(c.chat_id for c in ok if isinstance(c.chat_id, int) and c.chat_id >= FIRST_CHAT)
    lost = recipients - len(per_chat)
    duplicated = sum(n - 1 for n in per_chat.values() if n > 1)
    times = sorted(c.time for c in ok)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    rate = (len(times) - 1) / span if span else float("nan")
    # The rate without the chats that answered an injected 429: their retries (retry_after 2 s) may come after
    # every other send and stretch the span of a short broadcast
    clean = sorted(c.time for c in ok if c.chat_id not in faulty)
    clean_span = clean[-1] - clean[0] if len(clean) > 1 else float("nan")
    sustained = (len(clean) - 1) / clean_span if clean_span else float("nan")
    busiest = max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)
    chat_refusals = [d for d in record.refusals if "chat" in d]
    overall_refusals = [d for d in record.refusals if "global" in d]
    injected = sum(1 for c in record.calls if c.status == 429) - len(chat_refusals) - len(overall_refusals)
    reminder = [c for c in ok if c.chat_id == REMINDER_CHAT]
    delay_s = reminder[0].time - reminder_at if reminder and reminder_at else float("inf")
    delay = f"{delay_s:.2f} s" if reminder and reminder_at else "not sent"
    with runtime.db.transaction() as session:
        outcome = broadcast_reports.broadcast_report(session, broadcast_id, runtime.clock.now()).by_status
    figures = {
        "rate": rate,
        "share_of_limit": rate / 30,
        "sustained_share": sustained / 30,
        "reminder_delay_s": delay_s,
        "lost": lost,
        "duplicated": duplicated,
        "busiest_second": busiest,
        "flood_refusals": len(chat_refusals) + len(overall_refusals),
    }
    if not verbose:
        return figures
    print(f"broadcast to {recipients} Telegram residents, {len(faulty)} chats answering an injected 429 once")
    print(f"  sent {len(times)} messages in {span:.1f} s: {rate:.2f} msg/s = {rate / 30:.3f} of the 30 msg/s limit")
    print(f"  without the chats that answered a 429: {sustained / 30:.3f} of the limit")
    print(f"  busiest second at the server: {busiest} messages")
    print(f"  lost {lost}, duplicated {duplicated}; outbox rows {outcome}")
    print(f"  flood refusals: per-chat {len(chat_refusals)}, overall {len(overall_refusals)}; injected 429s {injected}")
    print(f"  reminder enqueued mid-broadcast reached the server after {delay}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--faults", type=float, default=0.01, help="share of chats answering a 429 once")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    asyncio.run(measure(args.recipients, args.faults, args.database))


if __name__ == "__main__":
    main()
