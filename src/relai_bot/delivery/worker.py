"""The outbox worker: claims due outbox rows and sends them through the channels, within provider limits.

One *lane* per channel (like courier's per-channel queues): a small in-memory priority queue holding
about one second of sends and a few sender tasks. Pacing is the channel's: a channel paces each of its
requests with its Pacer, the one its conversation replies use too (relai_bot.sending.pacing), so replies
and outbox sends stay under the provider's limit together; the lane only paces a Sender that has no pacer
of its own (tests, benchmarks), with the same rules. The claimer fills a lane from the database only when
it is half empty, most urgent rows first, so a reminder enqueued during a 10,000-message broadcast waits
behind one second of broadcast at most.
Results are written back in small batches. Nothing lives only in memory: rows are claimed with a lease,
and rows of a worker that died come back to another one when the lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from relai_bot import instance
from relai_bot.delivery.claims import Job, claim_jobs, settle_unserved, take_back_gone
from relai_bot.delivery.leadership import LaneLock
from relai_bot.delivery.results import Outcome, apply_outcomes
from relai_bot.sending.contract import Sender, SendFailure, SendResult
from relai_bot.sending.limits import ChannelLimits, channel_limits
from relai_bot.sending.pacing import Pacer, Slot
from relai_bot.wiring import Runtime

log = logging.getLogger(__name__)

# A lane holds about this many seconds of sends (claimed, not yet sent)
LOOKAHEAD_SECONDS = 1.0
# ... and never more than this many rows (fast channels: claims stay small transactions)
MAX_CLAIM = 500
SEND_TIMEOUT = 35.0
# How often rows for a channel without a sender here are settled (moved to another channel, or skipped)
UNSERVED_CHECK_SECONDS = 60.0
FLUSH_INTERVAL = 0.1
FLUSH_RETRIES = 5


def own_pacer(sender: Sender) -> Pacer | None:
    """The pacer a channel paces its own requests with (see Sender), if it has one."""
    pacer: Any = getattr(sender, "pacer", None)
    return pacer if isinstance(pacer, Pacer) else None


class Lane:
    def __init__(self, name: str, sender: Sender, limits: ChannelLimits, lock: LaneLock) -> None:
        self.name = name
        self.sender = sender
        self.limits = limits
        self.lock = lock
        shared = own_pacer(sender)
        # The channel's own pacer, shared with its replies; a plain Sender is paced here
        self.pacer = shared or Pacer(limits.pace())
        self.paces_itself = shared is not None
        rate = self.pacer.rules.rate
        self.capacity = min(MAX_CLAIM, max(limits.concurrency * 2, math.ceil(rate * LOOKAHEAD_SECONDS)))
        self.queue: asyncio.PriorityQueue[Job] = asyncio.PriorityQueue()
        self.inflight = 0

    @property
    def load(self) -> int:
        return self.queue.qsize() + self.inflight

    @property
    def room(self) -> int:
        """How many rows to claim now (0 until the lane is half empty: claims stay few and large)."""
        free = self.capacity - self.load
        return free if free >= max(1, self.capacity // 2) else 0


class DeliveryWorker:
    def __init__(
        self,
        runtime: Runtime,
        senders: Mapping[str, Sender],
        *,
        limits: Mapping[str, ChannelLimits] | None = None,
        worker_id: str | None = None,
        poll_seconds: float | None = None,
        send_timeout: float = SEND_TIMEOUT,
        exclusive: bool = True,
    ) -> None:
        """`exclusive`: on PostgreSQL, send on a channel only while holding its lane lock (see leadership)."""
        self.runtime = runtime
        self.worker_id = worker_id or instance.new_id()
        known = {**channel_limits(runtime.settings), **(limits or {})}
        self.lanes = {
            name: Lane(
                name, sender, known.get(name, ChannelLimits(10.0)), LaneLock(runtime.db, name, enabled=exclusive)
            )
            for name, sender in senders.items()
        }
        self.poll_seconds = poll_seconds if poll_seconds is not None else runtime.settings.outbox_poll_seconds
        self.send_timeout = send_timeout
        self._outcomes: list[Outcome] = []
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._claimer: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_unserved_check = 0.0  # when to look for rows no lane of this worker can send

    # -- life cycle -------------------------------------------------------------------------------
    def _start_tasks(self) -> None:
        if self._tasks:
            return
        for lane in self.lanes.values():
            for _ in range(lane.limits.concurrency):
                self._tasks.append(asyncio.create_task(self._send_loop(lane), name=f"send-{lane.name}"))
        self._tasks.append(asyncio.create_task(self._flush_loop(), name="outbox-flush"))

    def start(self) -> asyncio.Task[None]:
        """Run in the background (`relai-bot serve`)."""
        self._claimer = asyncio.create_task(self.run(), name="outbox-claim")
        return self._claimer

    async def run(self) -> None:
        self._start_tasks()
        log.info("outbox worker %s started: %s", self.worker_id, ", ".join(self.lanes) or "no channel")
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self._pass()
            except Exception:  # the database may be away for a moment: try again later
                log.exception("outbox worker %s: claiming failed", self.worker_id)
                claimed = 0
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    @property
    def running(self) -> bool:
        return self._claimer is not None and not self._claimer.done()

    def lane_states(self) -> dict[str, str]:
        """Who sends on each channel: "here", "elsewhere" (another instance holds its lock, PostgreSQL) or
        "nobody" (no instance does yet: nothing goes out on it). Blocking: one query per lane not held here."""
        return {
            name: "here" if lane.lock.holding else "elsewhere" if lane.lock.taken_elsewhere() else "nobody"
            for name, lane in self.lanes.items()
        }

    def notify(self) -> None:
        """Something was enqueued in this process: look at the outbox now."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop cleanly: claimed rows not yet sent go back, sends in flight finish, results are written."""
        self._stopping = True
        self._wake.set()
        if self._claimer is not None:
            self._claimer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._claimer
        for lane in self.lanes.values():
            while not lane.queue.empty():
                self._outcomes.append(Outcome(lane.queue.get_nowait(), released=True))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.send_timeout):
                while any(lane.inflight for lane in self.lanes.values()):
                    await asyncio.sleep(0.01)
        await self._cancel_tasks()
        await self.flush()
        for lane in self.lanes.values():
            await asyncio.to_thread(lane.lock.release)
        log.info("outbox worker %s stopped", self.worker_id)

    def kill(self) -> None:
        """Die on the spot, as a crash would (tests): nothing is given back or written."""
        self._stopping = True
        for task in [*self._tasks, *([self._claimer] if self._claimer else [])]:
            task.cancel()
        self._outcomes.clear()
        for lane in self.lanes.values():
            lane.lock._drop()  # the process is gone: so is its database session

    async def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def drain(self, timeout: float = 120.0) -> None:
        """Send everything due now, then return (tests and benchmarks)."""
        self._start_tasks()
        async with asyncio.timeout(timeout):
            while True:
                claimed = await self._pass()
                if not claimed and self._idle():
                    await self.flush()
                    if not await self._pass() and self._idle():
                        return
                await asyncio.sleep(0.005)

    def _idle(self) -> bool:
        return not self._outcomes and all(lane.load == 0 for lane in self.lanes.values())

    # -- claiming ---------------------------------------------------------------------------------
    async def _pass(self) -> int:
        """Fill every lane that has room; returns how many rows were claimed."""
        claimed = 0
        if time.monotonic() >= self._next_unserved_check:
            self._next_unserved_check = time.monotonic() + UNSERVED_CHECK_SECONDS
            await asyncio.to_thread(settle_unserved, self.runtime, list(self.lanes), self.worker_id)
            await asyncio.to_thread(take_back_gone, self.runtime)
        for lane in self.lanes.values():
            room = lane.room
            if not room:
                continue
            if lane.lock.enabled and not await asyncio.to_thread(lane.lock.held):
                continue  # another instance sends on this channel
            jobs, count = await asyncio.to_thread(claim_jobs, self.runtime, lane.name, self.worker_id, room)
            claimed += count
            for job in jobs:
                lane.queue.put_nowait(job)
        return claimed

    # -- sending ----------------------------------------------------------------------------------
    async def _send_loop(self, lane: Lane) -> None:
        while True:
            job = await lane.queue.get()
            lane.inflight += 1
            try:
                outcome = await self._send(lane, job)
            except asyncio.CancelledError:
                if not job.handed:  # stopped while waiting for its turn: the row goes back unsent
                    self._outcomes.append(Outcome(job, released=True))
                raise
            finally:
                lane.inflight -= 1
            self._outcomes.append(outcome)
            if lane.room:
                self._wake.set()

    async def _send(self, lane: Lane, job: Job) -> Outcome:
        if lane.paces_itself:  # the channel takes a place in its pacer for each request it makes
            return await self._try(lane, job, None)
        async with lane.pacer.slot(job.address) as slot:
            return await self._try(lane, job, slot)

    async def _try(self, lane: Lane, job: Job, slot: Slot | None) -> Outcome:
        try:
            job.handed = True
            async with asyncio.timeout(self.send_timeout):
                result: SendResult = await lane.sender.send(job.address, job.reply, proactive=True)
            if slot is not None:
                slot.cost(max(1, result.segments or 1))
            return Outcome(job, result=result)
        except SendFailure as failure:
            if slot is not None and failure.retry_after is not None:  # a refused request did not count
                slot.refused(retry_after=failure.retry_after)
            return Outcome(job, failure=failure)
        except TimeoutError:
            return Outcome(job, failure=SendFailure("retry", "no answer from the provider", ambiguous=True))
        except Exception as error:  # a sender's bug must not stop the lane; the row is tried again later
            log.warning(
                "sender %s raised %s for outbox id=%s",
                lane.name,
                type(error).__name__,
                job.row_id,
                extra={"outbox_id": job.row_id, "kind": job.kind, "channel": lane.name, "worker": self.worker_id},
            )
            return Outcome(job, failure=SendFailure("retry", f"sender error {type(error).__name__}", ambiguous=True))

    # -- writing results ----------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            if self._outcomes:
                await self.flush()

    async def flush(self) -> None:
        async with self._flush_lock:
            for attempt in range(1, FLUSH_RETRIES + 1):
                batch, self._outcomes = self._outcomes, []
                if not batch:
                    return
                try:
                    await asyncio.to_thread(apply_outcomes, self.runtime, batch)
                    return
                except Exception:
                    log.exception(
                        "outbox worker %s: writing %d results failed (try %d)", self.worker_id, len(batch), attempt
                    )
                    self._outcomes = batch + self._outcomes
                    await asyncio.sleep(0.2 * attempt)
            # Still not written: the leases run out and the rows are sent again (at worst twice)
            log.error("outbox worker %s: %d results could not be written", self.worker_id, len(self._outcomes))
            self._outcomes = []
