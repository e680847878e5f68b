"""The database away for a few seconds: PostgreSQL cut off (as a restart looks to its clients) or SQLite
locked by another writer. A webhook that arrives meanwhile is refused with 503, so the provider
delivers it again; nothing is half-written; once the database is back the service answers by itself.

PostgreSQL is reached through a TCP relay the test can cut (every connection dropped, new ones refused):
the server itself is shared with other tests and is never restarted here.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from relai_bot.clock import FrozenClock
from relai_bot.store import db as store_db
from relai_bot.store.models import MessageLog, OutboxMessage
from tests.fakes.twilio_api import inbound_sms_params
from tests.proof import record
from tests.sms_harness import TWO_WAY, sms_stack
from tests.telegram_harness import telegram_stack

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 3.0


class Relay:
    """127.0.0.1:<port> -> PostgreSQL, until cut; `restore` listens again on the same port. It runs its own
    event loop in a thread: the service's start-up talks to the database from the test's loop."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-relay", daemon=True)
        self._thread.start()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def start(self) -> None:
        self._call(self._listen())

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
        self._writers -= {writer, upstream_writer}

    def cut(self) -> None:
        """Every connection dropped, new ones refused (what a restarting server looks like)."""
        self._call(self._cut())

    async def _cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        if self._server is not None:
            self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@asynccontextmanager
async def outage(kind: str, url: str, relay: Relay | None) -> AsyncIterator[None]:
    """The database unavailable while inside: the relay cut, or SQLite held by an exclusive lock."""
    if kind == "postgres":
        assert relay is not None
        relay.cut()
        try:
            yield
        finally:
            relay.restore()
        return
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=5, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, str, Relay | None]]:
    """(kind, database URL the service uses, the relay for PostgreSQL)."""
    # A writer waits this long for SQLite's lock (60 s in service): the outage must outlast the turn's tries
    monkeypatch.setattr(store_db, "SQLITE_WAIT", 0.5)
    if request.param == "sqlite":
        yield "sqlite", request.getfixturevalue("sqlite_url"), None
        return
    direct: str = request.getfixturevalue("postgres_url")
    relay = Relay()
    relay.start()
    try:
        yield "postgres", direct.replace("127.0.0.1:5432", f"127.0.0.1:{relay.port}"), relay
    finally:
        relay.close()


def _inbound_rows(runtime: object, text: str) -> int:
    with runtime.db.transaction() as session:  # type: ignore[attr-defined]
        return session.exec(
            select(func.count()).select_from(MessageLog).where(MessageLog.direction == "in", MessageLog.body == text)
        ).one()


async def test_telegram_webhooks_are_refused_while_the_database_is_away_then_answered(
    database: tuple[str, str, Relay | None], clock: FrozenClock
) -> None:
    kind, url, relay = database
    async with telegram_stack(url, clock, mode="webhook") as stack:
        chat = await stack.onboarded()
        await stack.settle()
        before = len(stack.srv.texts(chat.chat_id))
        async with outage(kind, url, relay):
            stack.srv.user_message(chat.chat_id, "aide")
            await asyncio.sleep(OUTAGE_SECONDS)
            refused = [d.status for d in stack.srv.webhook_deliveries if d.status not in (200, None)]
            assert refused and set(refused) == {503}, refused  # never a 500: the provider is asked to retry
            assert len(stack.srv.texts(chat.chat_id)) == before  # nothing said while nothing was done
            assert stack.srv.pending_updates  # Telegram still holds the update
        await stack.settle(timeout=60)
        answers = stack.srv.texts(chat.chat_id)[before:]
        assert len(answers) >= 1 and not any("souci technique" in text for text in answers)
        assert _inbound_rows(stack.runtime, "aide") == 1  # handled once, nothing half-written before
        with stack.runtime.db.transaction() as session:
            stuck = session.exec(
                select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.status) == "sending")
            ).one()
        assert stuck == 0
        stack.assert_clean()
    record(
        "database_faults",
        outages=1,
        **{f"{kind}_telegram_refused_503": len(refused)},
        answered_after=1,
        lost=0,
        half_written=0,
        database=[kind],
    )


async def test_an_sms_while_the_database_is_away_gets_the_apology_and_a_503_then_its_answer(
    database: tuple[str, str, Relay | None], clock: FrozenClock, tmp_path: Path
) -> None:
    kind, url, relay = database
    async with sms_stack(url, clock) as stack:
        phone = await stack.onboarded()
        sid = "SM" + uuid.uuid4().hex
        params = inbound_sms_params(phone.written_as, TWO_WAY, "aide", message_sid=sid)
        async with outage(kind, url, relay):
            refused = await stack.post_inbound(params)
            await stack.channel.idle()
        assert refused.status_code == 503
        apology = stack.sent_to(phone.number)[-1].body
        assert "souci technique" in apology and "pas perdue" not in apology
        retried = await stack.post_inbound(params)  # Twilio again (the webhook's URL asks for retries)
        await stack.channel.idle()
        assert retried.status_code == 200
        assert "souci technique" not in stack.sent_to(phone.number)[-1].body
        assert _inbound_rows(stack.runtime, "aide") == 1
    record("database_faults", outages=1, **{f"{kind}_sms_refused_503": 1}, answered_after=1, lost=0, database=[kind])
