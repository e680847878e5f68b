"""The engine in process: turns per second through the dispatcher, engine and database, against the
one-commit-per-message ceiling on the same database; SQL statements per turn; the booking race.

    .venv/bin/python -m bench.engine [--residents 40] [--database sqlite|postgres|both]

Turns: many residents run a scripted conversation at once (onboarding, search, book, list, cancel), each
message with its own provider message id, so the de-duplication insert runs as it does for Telegram and SMS.
Statements: a SQLAlchemy `before_cursor_execute` listener on the runtime's engine counts what the turns send.
Ceiling: the same engine settings (relai_bot.store.db.make_engine: WAL, synchronous=NORMAL, BEGIN IMMEDIATE on
SQLite), the same concurrency (residents in flight, each turn in a worker thread as the dispatcher runs it),
one transaction per message: UPDATE a counter row, INSERT a log row, COMMIT.
Race: N residents stand at the confirmation of the same slot with one place and all press "oui" at once.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlmodel import select

from bench._common import percentile, percentiles, seeded_runtime, throwaway_postgres
from relai_bot.store.db import make_engine
from relai_bot.store.models import Appointment, Slot
from relai_bot.testing.driver import ConsoleChat, Driver
from relai_bot.wiring import Runtime

SCRIPT = [
    "bonjour",
    "1",
    "1",
    "2",
    "2",  # consent, opportunities, Saint-Laurent, questions later
    "formasion",
    "menu",  # a search with a typo, back to the menu
    "2",
    "1",
    "1",
    "oui",  # book: any scheme, first slot, confirm
    "menu",
    "3",
    "1",
    "annuler",
    "oui",  # my appointments: cancel it
    "menu",
]
CHANNEL = "sms"  # a channel whose messages carry provider ids (the de-duplication insert runs)


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def _count(self, *args: Any) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


async def _send(chat: ConsoleChat, body: str, latencies: list[float]) -> None:
    started = time.perf_counter()
    await chat.send(body, message_id="SM" + uuid.uuid4().hex)
    latencies.append((time.perf_counter() - started) * 1000)


async def turns(runtime: Runtime, residents: int) -> dict[str, float]:
    """The scripted conversation by `residents` at once: turns/s, latency, SQL statements per turn."""
    driver = Driver(runtime)
    numbers = iter(range(residents))
    chats = [driver.resident(CHANNEL, f"+262693{next(numbers):06d}") for _ in range(residents)]
    latencies: list[float] = []

    async def conversation(chat: ConsoleChat) -> None:
        for body in SCRIPT:
            await _send(chat, body, latencies)

    with StatementCounter(runtime.db.engine) as counter:
        started = time.perf_counter()
        await asyncio.gather(*(conversation(chat) for chat in chats))
        elapsed = time.perf_counter() - started
    with runtime.db.transaction() as session:
        cancelled = len(session.exec(select(Appointment).where(Appointment.status == "cancelled")).all())
    return {
        "turns_per_s": len(latencies) / elapsed,
        "turns": len(latencies),
        "statements_per_turn": counter.count / len(latencies),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "bookings_cancelled": cancelled,
    }


@contextmanager
def _ceiling_engine(database: str) -> Iterator[Engine]:
    if database == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{Path(folder) / 'ceiling.sqlite3'}")
            try:
                yield engine
            finally:
                engine.dispose()
        return
    with throwaway_postgres() as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


async def ceiling(database: str, residents: int, seconds: float = 2.0) -> dict[str, float]:
    """One UPDATE + INSERT + COMMIT per message, `residents` in flight, each commit in a worker thread, for
    `seconds`."""
    with _ceiling_engine(database) as engine:
        serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if database == "sqlite" else "SERIAL PRIMARY KEY"
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            connection.exec_driver_sql(
                f"CREATE TABLE bench_log (id {serial}, counter_id INTEGER NOT NULL, body TEXT NOT NULL)"
            )
            for n in range(residents):
                connection.execute(text("INSERT INTO bench_counter (id, n) VALUES (:id, 0)"), {"id": n})
        update = text("UPDATE bench_counter SET n = n + 1 WHERE id = :id")
        insert = text("INSERT INTO bench_log (counter_id, body) VALUES (:id, :body)")

        def commit_one(resident: int) -> None:
            with engine.begin() as connection:
                connection.execute(update, {"id": resident})
                connection.execute(insert, {"id": resident, "body": "un message d'un habitant"})

        done = [0]
        deadline = time.monotonic() + seconds

        async def resident(n: int) -> None:
            while time.monotonic() < deadline:
                await asyncio.to_thread(commit_one, n)
                done[0] += 1

        with StatementCounter(engine) as counter:
            started = time.perf_counter()
            await asyncio.gather(*(resident(n) for n in range(residents)))
            elapsed = time.perf_counter() - started
        with engine.connect() as connection:
            total = connection.execute(text("SELECT SUM(n) FROM bench_counter")).scalar()
        assert total == done[0], (total, done[0])
    return {"tx_per_s": done[0] / elapsed, "statements_per_tx": counter.count / done[0]}


async def race(runtime: Runtime, bookers: int) -> dict[str, float]:
    """`bookers` residents at the confirmation of the same one-place slot press "oui" at once."""
    driver = Driver(runtime)
    chats = []
    for _ in range(bookers):
        chat = driver.resident()
        for body in ("bonjour", "1", "2", "2", "2", "2", "1", "1"):  # ... first slot, at its confirmation
            await chat.send(body)
        chats.append(chat)
    slot_line = chats[0].text.splitlines()[1]
    same_slot = all(c.text.splitlines()[1] == slot_line for c in chats)
    latencies: list[float] = []

    async def press(chat: ConsoleChat) -> None:
        started = time.perf_counter()
        await chat.send("oui")
        latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(press(c) for c in chats))
    won = sum("C'est réservé" in c.text for c in chats)
    told_taken = sum("vient d'être pris" in c.text and "prochains rendez-vous libres" in c.text for c in chats)
    with runtime.db.transaction() as session:
        over = session.exec(select(Slot).where(Slot.booked > Slot.capacity)).all()
    return {
        "bookers": bookers,
        "same_slot": float(same_slot),
        "bookings": won,
        "told_taken": told_taken,
        "over_capacity": len(over),
        "p99_ms": percentile(latencies, 0.99),
        "latency": percentiles(latencies),  # type: ignore[dict-item]
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=40)
    parser.add_argument("--bookers", type=int, default=30)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    for database in ["sqlite", "postgres"] if args.database == "both" else [args.database]:
        with seeded_runtime(database) as runtime:
            figures = await turns(runtime, args.residents)
        limit = await ceiling(database, args.residents)
        print(f"{database}: engine {figures}; ceiling {limit}")
        with seeded_runtime(database) as runtime:
            print(f"{database}: race {await race(runtime, args.bookers)}")


if __name__ == "__main__":
    asyncio.run(main())
