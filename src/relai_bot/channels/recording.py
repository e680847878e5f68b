"""What providers took, written a few at a time: one transaction for every send of the last moment.

A provider's answer to a send (Telegram's message id, Twilio's sid) goes on the message-log rows. Written
one by one, that would be a second write transaction per reply, after the turn's own; SQLite has one
writer, so every such write waits for (and delays) the next resident's turn. Channels hand their results
to a `Recorder`, which writes what came in during `delay` seconds in one call of `write` (a worker
thread: the writing is synchronous), then whatever came in meanwhile, until nothing is left.

Nothing depends on the write being done at once: a delivery report that comes before its sid is written
waits for it (channels.sms.records). `idle()` waits until everything handed over is written (tests,
benchmarks, a channel stopping).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
DELAY = 0.05


class Recorder(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], None], *, what: str, delay: float = DELAY) -> None:
        """`write`: records a batch in one transaction (run in a worker thread); `what`: for the logs."""
        self._write = write
        self._what = what
        self._delay = delay
        self._pending: list[T] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, *items: T) -> None:
        """Record these soon, with the others handed over meanwhile."""
        if not items:
            return
        self._pending.extend(items)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"record-{self._what}")

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def idle(self, timeout: float | None = None) -> bool:
        """Wait until everything handed over is written; False if `timeout` passed first."""
        if self._task is not None:
            await asyncio.wait([self._task], timeout=timeout)
        return not self.busy

    async def _run(self) -> None:
        await asyncio.sleep(self._delay)
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception:  # the log misses what the provider said; sending goes on
                log.exception("%s not recorded: %d sends", self._what, len(batch))
