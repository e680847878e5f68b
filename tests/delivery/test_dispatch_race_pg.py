"""Several dispatchers racing over the same outbox: no row is sent twice, none is left behind.

Each dispatcher runs in its own thread with its own event loop and its own connection pool, as
separate `relai-bot serve` processes would. On PostgreSQL (claims with FOR UPDATE SKIP LOCKED) over
10,000 rows; on SQLite (claims under the write lock) over fewer. In production only the holder of a
channel's lane lock sends on it (the provider's rate is the service's); the last test checks that.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest
from sqlmodel import select

from relai_bot.clock import FrozenClock
from relai_bot.config import load_settings
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.sending.limits import ChannelLimits
from relai_bot.services import outbox
from relai_bot.store.models import Adviser
from relai_bot.wiring import build_runtime
from tests.conftest import make_runtime
from tests.delivery_support import CountingSender, statuses

UNLIMITED = {"telegram": ChannelLimits(rate=100_000, chat_interval=0, concurrency=16)}


def race(url: str, clock: FrozenClock, rows: int, dispatchers: int = 2, send_delay: float = 0.0) -> None:
    runtime = make_runtime(url, clock)
    now = clock.now()
    with runtime.db.transaction() as session:
        adviser_id = session.exec(select(Adviser.id)).first()
        outbox.enqueue_many(
            session,
            [
                outbox.message_row(
                    key=f"race:{i}",
                    kind="notification",
                    channel="telegram",
                    address=f"chat-{i}",
                    now=now,
                    body="x",
                    adviser_id=adviser_id,
                )
                for i in range(rows)
            ],
        )
    senders = [CountingSender(delay=send_delay) for _ in range(dispatchers)]
    errors: list[BaseException] = []
    start = threading.Barrier(dispatchers)

    def dispatcher(index: int) -> None:
        own = build_runtime(load_settings(database_url=url), clock, strict=True)
        try:
            worker = DeliveryWorker(
                own,
                {"telegram": senders[index]},
                limits=UNLIMITED,
                poll_seconds=0.01,
                worker_id=f"d{index}",
                exclusive=False,  # both send: the claims alone must keep rows apart
            )
            start.wait()
            asyncio.run(worker.drain(timeout=120))
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            own.close()

    threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(dispatchers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not errors, errors
    total: Counter[str] = Counter()
    for sender in senders:
        total.update(sender.sent)
    assert len(total) == rows, "every row was sent"
    assert max(total.values()) == 1, "no row was sent twice"
    assert all(sender.calls > 0 for sender in senders), "the dispatchers really shared the work"
    assert statuses(runtime) == {"sent": rows}
    runtime.close()
    print(f"{rows} rows, {dispatchers} dispatchers: {elapsed:.1f} s, split {[s.calls for s in senders]}")


@pytest.mark.postgres
def test_two_dispatchers_on_postgresql_never_send_a_row_twice(postgres_url: str, clock: FrozenClock) -> None:
    race(postgres_url, clock, 10_000)


def test_two_dispatchers_on_sqlite_never_send_a_row_twice(sqlite_url: str, clock: FrozenClock) -> None:
    # Sends take a few ms (as over a network), so that one dispatcher cannot drain the outbox alone
    # before the other's first claim: the test is about sharing the rows without sending one twice.
    race(sqlite_url, clock, 2_000, send_delay=0.005)


@pytest.mark.postgres
async def test_one_instance_sends_on_a_channel_and_another_takes_over(postgres_url: str, clock: FrozenClock) -> None:
    runtime = make_runtime(postgres_url, clock)
    other = build_runtime(load_settings(database_url=postgres_url), clock, strict=True)
    with runtime.db.transaction() as session:
        adviser_id = session.exec(select(Adviser.id)).first()
        rows = [
            outbox.message_row(
                key=f"lane:{i}",
                kind="notification",
                channel="telegram",
                address=f"chat-{i}",
                now=clock.now(),
                body="x",
                adviser_id=adviser_id,
            )
            for i in range(60)
        ]
        outbox.enqueue_many(session, rows[:30])
    first, second = CountingSender(), CountingSender()
    leader = DeliveryWorker(runtime, {"telegram": first}, limits=UNLIMITED, poll_seconds=0.01, worker_id="leader")
    standby = DeliveryWorker(other, {"telegram": second}, limits=UNLIMITED, poll_seconds=0.01, worker_id="standby")
    await leader.drain()
    await standby.drain()
    assert (first.calls, second.calls) == (30, 0)
    with runtime.db.transaction() as session:
        outbox.enqueue_many(session, rows[30:])
    await standby.drain()
    assert second.calls == 0  # the leader still holds the lane
    leader.kill()  # its database session ends: the lock is free once the server's backend has exited
    for _ in range(1000):  # that happens asynchronously on the server: wait for it (bounded)
        if await asyncio.to_thread(standby.lanes["telegram"].lock.held):
            break
        await asyncio.sleep(0.01)
    await standby.drain()
    assert (first.calls, second.calls) == (30, 30)
    assert statuses(runtime) == {"sent": 60}
    await standby.stop()
    other.close()
    runtime.close()
