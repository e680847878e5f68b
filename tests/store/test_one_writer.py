"""SQLite has one writer: the threads of a process take turns on the database's lock, first come first
served, instead of each polling SQLite's own lock (its busy handler sleeps longer and longer)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from relai_bot.conversation.dispatcher import Front
from relai_bot.store.db import Database
from relai_bot.testing.driver import Driver
from relai_bot.turns import Inbound, Turn
from relai_bot.wiring import Runtime


def impatient(url: str) -> Database:
    """A database whose connections never wait for SQLite's lock: any overlap of two writers fails."""
    db = Database(url)

    @event.listens_for(db.engine, "connect")
    def _no_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    with db.transaction() as session:
        session.execute(text("CREATE TABLE counter (n INTEGER)"))
        session.execute(text("INSERT INTO counter VALUES (0)"))
    return db


def test_writer_threads_take_turns_without_waiting_in_sqlite(tmp_path: Path) -> None:
    db = impatient(f"sqlite:///{tmp_path / 'one.sqlite3'}")
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer() -> None:
        start.wait()
        for _ in range(25):
            try:
                with db.transaction() as session:
                    value = session.execute(text("SELECT n FROM counter")).scalar_one()
                    session.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})
            except BaseException as error:  # "database is locked" without the lock
                errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with db.transaction() as session:
        assert session.execute(text("SELECT n FROM counter")).scalar_one() == 150  # no update lost
    db.dispose()


def test_a_transaction_inside_another_in_the_same_thread_is_not_blocked_by_the_lock(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nested.sqlite3'}")
    with db.transaction() as outer:
        outer.execute(text("SELECT 1"))
        done = threading.Event()

        def other_thread() -> None:
            with db.transaction() as session:
                session.execute(text("SELECT 1"))
            done.set()

        thread = threading.Thread(target=other_thread)
        thread.start()
        assert not done.wait(0.2)  # another thread waits for this one
    thread.join(10)
    assert done.is_set()
    db.dispose()


async def test_turns_on_sqlite_run_one_at_a_time_in_arrival_order(runtime: Runtime) -> None:
    driver = Driver(runtime)
    chats = [driver.resident() for _ in range(8)]
    running: list[str] = []
    order: list[str] = []
    overlap: list[int] = []
    original = runtime.dispatcher.handle_sync

    def watched(inbound: Inbound, front: Front | None = None) -> Turn:
        running.append(inbound.address)
        overlap.append(len(running))
        order.append(inbound.address)
        try:
            return original(inbound, front)
        finally:
            running.remove(inbound.address)

    runtime.dispatcher.handle_sync = watched  # type: ignore[method-assign]
    await asyncio.gather(*(chat.send("bonjour") for chat in chats))
    assert max(overlap) == 1
    assert order == [chat.address for chat in chats]  # first come, first served
    assert all("Bonjour" in chat.text for chat in chats)
