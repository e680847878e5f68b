"""The one place that runs a turn: lock the address, open a transaction, run the engine, commit.

One resident's messages are handled one at a time and in arrival order (an asyncio lock per address in
this process; the conversation row's lock across processes on PostgreSQL). The engine runs in a worker
thread so the event loop stays free for the channels. On SQLite (one writer) turns take their turn in
arrival order here, whatever the channel, rather than in worker threads all waiting for the database.
Whatever goes wrong, the resident gets a polite answer and no trace of the error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from relai_bot import metrics
from relai_bot.conversation.engine import Engine
from relai_bot.services import reply_journal
from relai_bot.services.residents import address_tag
from relai_bot.store.db import Database
from relai_bot.turns import Inbound, Reply, Turn

log = logging.getLogger(__name__)

MAX_LOCKS = 10_000
RETRIES = 3
# Something that may answer a message before the residents' engine, in the turn's transaction (the staff
# desk on Telegram): a Turn, or None to let the engine answer
Front = Callable[[Session, Inbound], Turn | None]


def turn_context(inbound: Inbound) -> dict[str, object]:
    """The fields a turn's log lines carry (`extra=`): its channel, the sender's tag (never the address
    itself), what they did."""
    return {"channel": inbound.channel, "who": address_tag(inbound.channel, inbound.address), "kind": inbound.kind}


class Dispatcher:
    def __init__(
        self, db: Database, engine: Engine, *, strict: bool = False, reply_lease_seconds: float = 90.0
    ) -> None:
        self.db = db
        self.engine = engine
        # Tests set strict: an unexpected error is raised instead of apologised for
        self.strict = strict
        # Channels whose turns hold their replies in the outbox until sent (services.reply_journal): the
        # ones that say how each send went (TelegramChannel, SmsChannel call `journal_replies`)
        self.journaled: set[str] = set()
        self.reply_lease_seconds = reply_lease_seconds
        self._locks: OrderedDict[tuple[str, str], asyncio.Lock] = OrderedDict()
        self._one_writer = db.dialect == "sqlite"
        self._writer_gate: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def journal_replies(self, channel: str) -> None:
        """From now on, the turns of `channel` write their replies in the outbox in their transaction; the
        channel then settles each row (services.reply_journal.settle) once it sent them."""
        self.journaled.add(channel)

    def _lock(self, inbound: Inbound) -> asyncio.Lock:
        key = (inbound.channel, inbound.address)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
            self._trim()
        else:
            self._locks.move_to_end(key)
        return lock

    def _trim(self) -> None:
        while len(self._locks) > MAX_LOCKS:
            key, lock = next(iter(self._locks.items()))
            if lock.locked():
                break
            del self._locks[key]

    async def handle(self, inbound: Inbound, front: Front | None = None) -> Turn:
        """Run the turn of `inbound`; `front` (the staff desk) may answer it first, in the same transaction."""
        async with self._lock(inbound):
            if not self._one_writer:
                return await asyncio.to_thread(self.handle_sync, inbound, front)
            async with self._gate():  # FIFO: first come, first served
                return await asyncio.to_thread(self.handle_sync, inbound, front)

    def _gate(self) -> asyncio.Lock:
        """The lock turns queue on (one per event loop: tests and the CLI may run several loops in turn)."""
        loop = asyncio.get_running_loop()
        if self._writer_gate is None or self._writer_gate[0] is not loop:
            self._writer_gate = (loop, asyncio.Lock())
        return self._writer_gate[1]

    def handle_sync(self, inbound: Inbound, front: Front | None = None) -> Turn:
        """Run one turn in its own transaction (retried when the database was busy): `front`'s answer if it
        has one, else the engine's."""
        started = time.perf_counter()

        def work(session: Session) -> Turn:
            answer = front(session, inbound) if front is not None else None
            turn = answer if answer is not None else self.engine.handle(session, inbound)
            if turn.replies and not turn.duplicate and inbound.channel in self.journaled:
                turn.outbox_id = reply_journal.write(
                    session,
                    inbound.channel,
                    inbound.address,
                    inbound.message_id,
                    turn,
                    self.engine.clock.now(),
                    lease_seconds=self.reply_lease_seconds,
                )
            return turn

        turn, done = self.attempt(inbound, work, what="turn")
        seconds = time.perf_counter() - started
        metrics.TURN_SECONDS.labels(inbound.channel).observe(seconds)
        if done and turn is not None:
            metrics.TURNS.labels(inbound.channel, turn.flow or "none").inc()
            if not turn.duplicate:
                metrics.REPLIES.labels(inbound.channel).inc(len(turn.replies))
            context = turn_context(inbound) | {"flow": turn.flow, "step": turn.step, "replies": len(turn.replies)}
            log.info(
                "turn channel=%s who=%s kind=%s flow=%s step=%s replies=%d ms=%.1f%s",
                inbound.channel,
                context["who"],
                inbound.kind,
                turn.flow,
                turn.step,
                len(turn.replies),
                seconds * 1000,
                " duplicate" if turn.duplicate else "",
                extra=context | {"ms": round(seconds * 1000, 1), "duplicate": turn.duplicate},
            )
        return turn if turn is not None else self.apology(inbound)

    def attempt(
        self, inbound: Inbound, work: Callable[[Session], Turn | None], *, what: str
    ) -> tuple[Turn | None, bool]:
        """Run `work` in one transaction, tried again while the database is busy (the one place a turn's
        failures are handled). Returns (what `work` returned, True), or (the apology, False) after an
        unexpected error or a database busy or unreachable every time (then the apology is marked
        `unavailable`: the message was not handled at all); in strict mode (tests) an unexpected error is
        raised."""
        context = turn_context(inbound)
        tag = context["who"]
        for attempt in range(1, RETRIES + 1):
            try:
                with self.db.transaction() as session:
                    return work(session), True
            except OperationalError:
                log.warning(
                    "database busy (attempt %d) %s channel=%s who=%s",
                    attempt,
                    what,
                    inbound.channel,
                    tag,
                    extra=context | {"attempt": attempt},
                )
                if attempt == RETRIES:
                    metrics.TURN_FAILURES.labels(inbound.channel, "busy").inc()
                    # Nothing was done: a channel whose provider delivers again asks it to (a 503)
                    apology = self.apology(inbound)
                    apology.unavailable = True
                    return apology, False
                time.sleep(0.05 * attempt)
            except Exception:
                if self.strict:
                    raise
                # The edge of the system: log the error (no personal data), answer kindly
                log.exception(
                    "%s failed channel=%s who=%s kind=%s", what, inbound.channel, tag, inbound.kind, extra=context
                )
                metrics.TURN_FAILURES.labels(inbound.channel, "error").inc()
                break
        return self.apology(inbound), False

    def apology(self, inbound: Inbound) -> Turn:
        text = self.engine.renderer.render(
            "common/technical_problem", language=None, channel=inbound.channel, context={}
        )
        return Turn(replies=[Reply(text=text)])
