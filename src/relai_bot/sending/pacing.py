"""How fast we send through a provider: one `Pacer` per channel, used by every request of that channel.

A channel's conversation replies and its outbox sends go through the same bot token (the same Twilio
account), so the provider counts them together: the channel builds one Pacer and every request it makes
to the provider, whoever asked for it, takes its place in it. The delivery worker finds it on the channel
(`Sender.pacer`) and does not pace that lane a second time.

One rule set, two parts:

- **Overall**: at most `rate` units in any one-second window of the provider's clock (a unit is a
  message on Telegram, a segment by SMS). Counted the safe way round: a request holds its units from the
  moment it starts until one window after its answer came back. Its arrival at the provider lies between
  the two, so however the network delays requests, no window of the provider's clock ever sees more than
  `rate` units. The price is one round trip per window (a few milliseconds locally, a tenth of a second or
  two to a distant API). A request the provider refused unread (a 429) frees its units at once.
- **Per address** (Telegram: about one message a second per chat, a short burst passes): `chat_burst`
  messages may go at once, then one every `chat_interval` seconds. This is a token bucket written as a
  virtual schedule (GCRA: each message moves the address's theoretical time by one interval; a message
  may leave while that time is less than `chat_burst - 1` intervals ahead). It is counted the safe way
  too: the schedule moves on from each *answer*, not from each departure. The provider's bucket refills
  from the arrivals, ours from the answers, which come later: ours is never fuller than the provider's.

How burst and window combine: a request first waits for its address's turn, then for a place in the
window (so that a message waiting for its chat does not hold a place others could use). The window has
no burst of its own beyond `rate`: a burst of replies to several chats may leave at once as long as the
last second holds room for it, which is what keeps a turn's replies fast. The previous Telegram pacer
spread messages evenly (one every 1/27 s) and aimed 10 % under the limits, because it counted departures
while Telegram counts arrivals; counting from the answers makes the margin exact instead of a guess, so
only a hair of margin is kept for clock granularity.

A provider's "retry after" (Telegram 429) pauses the address: nothing more to it before then, and it
starts again with an empty burst (one message, then one per interval): after being told to slow down we
do not burst. Waiters are served most urgent first (conversation replies before the outbox: a resident is
waiting for them), then in order of arrival. Times come from the running event loop's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from dataclasses import dataclass
from types import TracebackType

# Addresses remembered at most (older ones have long caught up with their schedule)
MAX_ADDRESSES = 10_000
WINDOW_MARGIN = 0.002
CHAT_MARGIN = 0.01


@dataclass(frozen=True)
class PaceRules:
    """rate: units per second overall (messages; SMS segments). chat_interval: seconds between two
    messages to one address once its burst is spent (0: no limit per address). chat_burst: messages one
    address may get at once."""

    rate: float
    chat_interval: float = 0.0
    chat_burst: int = 1

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.chat_interval < 0 or self.chat_burst < 1:
            raise ValueError("chat_interval must be >= 0 and chat_burst >= 1")


def _now() -> float:
    return asyncio.get_running_loop().time()


class _Window:
    """At most `capacity` units per window, counted from each request's start to one window after its
    answer; waiters are served by (priority, arrival)."""

    def __init__(self, rate: float, period: float = 1.0) -> None:
        self.capacity = max(1, math.floor(rate * period))
        self.span = (period if rate * period >= 1 else 1 / rate) * (1 + WINDOW_MARGIN)
        self._expiries: list[float] = []  # when each counted unit stops counting (a heap)
        self._in_flight = 0
        self._queue: list[tuple[int, int, int]] = []  # (priority, order, units)
        self._order = itertools.count()
        self._changed = asyncio.Event()

    def _prune(self, now: float) -> None:
        while self._expiries and self._expiries[0] <= now:
            heapq.heappop(self._expiries)

    def used(self, now: float) -> int:
        self._prune(now)
        return self._in_flight + len(self._expiries)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _room_in(self, units: int, now: float) -> float | None:
        """Seconds until `units` fit (0: now; None: only an answer can make room)."""
        missing = self.used(now) + units - self.capacity
        if missing <= 0:
            return 0.0
        if missing > len(self._expiries):
            return None
        return heapq.nsmallest(missing, self._expiries)[-1] - now

    async def take(self, units: int, priority: int) -> int:
        units = min(units, self.capacity)  # larger than the window: it waits for the whole window
        entry = (priority, next(self._order), units)
        heapq.heappush(self._queue, entry)
        try:
            while True:
                changed = self._changed
                wait = self._room_in(units, _now()) if self._queue[0] is entry else None
                if wait == 0.0:
                    heapq.heappop(self._queue)
                    self._in_flight += units
                    self._notify()  # the next waiter is now first in line
                    return units
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), wait)
        except BaseException:
            if entry in self._queue:  # cancelled while waiting: leave the line
                self._queue.remove(entry)
                heapq.heapify(self._queue)
                self._notify()
            raise

    def give_back(self, units: int, *, counted: bool, extra: int = 0) -> None:
        """The answer came back: `units` leave the flight; counted ones (and `extra` ones, when the
        request cost more than it took) count until one window from now."""
        self._in_flight -= units
        if counted:
            until = _now() + self.span
            for _ in range(units + extra):
                heapq.heappush(self._expiries, until)
        self._notify()


class _Schedules:
    """Per address: the theoretical time of the next message (GCRA), and pauses asked by the provider."""

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval * (1 + CHAT_MARGIN)
        self.tolerance = (burst - 1) * self.interval
        self._due: dict[str, float] = {}
        self._paused: dict[str, float] = {}

    def _forget_old(self, now: float) -> None:
        if len(self._due) > MAX_ADDRESSES:
            self._due = {a: t for a, t in self._due.items() if t > now}
        if len(self._paused) > MAX_ADDRESSES:
            self._paused = {a: t for a, t in self._paused.items() if t > now}

    def reserve(self, address: str, now: float) -> float:
        """When the next message to `address` may start (>= now); its place in the schedule is taken."""
        self._forget_old(now)
        due = self._due.get(address, now)
        start = max(now, due - self.tolerance, self._paused.get(address, now))
        if self.interval > 0:
            self._due[address] = max(start, due) + self.interval
        return start

    def paused_until(self, address: str) -> float:
        return self._paused.get(address, 0.0)

    def answered(self, address: str, now: float) -> None:
        """The answer came back: the schedule moves on from now (the message arrived at the latest now)."""
        if self.interval > 0:
            self._due[address] = max(self._due.get(address, now), now + self.interval)

    def pause(self, address: str, until: float) -> None:
        self._paused[address] = max(self._paused.get(address, until), until)
        if self.interval > 0:  # start again with an empty burst
            self._due[address] = max(self._due.get(address, until), until + self.tolerance)


class Pacer:
    """One channel's pace: `async with pacer.slot(address, units=n) as slot:` around each request."""

    def __init__(self, rules: PaceRules) -> None:
        self.rules = rules
        self.window = _Window(rules.rate)
        self._schedules = _Schedules(rules.chat_interval, rules.chat_burst)

    @property
    def in_use(self) -> int:
        """Units counted in the last window, requests in flight included."""
        return self.window.used(_now())

    def slot(self, address: str, *, units: int = 1, urgent: bool = False) -> Slot:
        """A place for one request to `address` costing `units` (an SMS: its segments). `urgent`: a
        conversation reply, served before the outbox's sends that wait at the same time."""
        return Slot(self, address, max(1, units), urgent)

    def pause(self, address: str, seconds: float) -> None:
        """The provider asked to wait before writing to this address again."""
        self._schedules.pause(address, _now() + max(0.0, seconds))


class Slot:
    """One request's place. Leaving the block (answer, error or cancellation) counts the request, unless
    `refused()` said the provider did not take it."""

    def __init__(self, pacer: Pacer, address: str, units: int, urgent: bool) -> None:
        self.pacer = pacer
        self.address = address
        self.units = units
        self.urgent = urgent
        self._held = 0
        self._refused = False
        self._extra = 0

    async def __aenter__(self) -> Slot:
        schedules = self.pacer._schedules
        start = schedules.reserve(self.address, _now())
        while (wait := max(start, schedules.paused_until(self.address)) - _now()) > 0:
            await asyncio.sleep(wait)
        self._held = await self.pacer.window.take(self.units, 0 if self.urgent else 1)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.pacer.window.give_back(self._held, counted=not self._refused, extra=self._extra)
        if not self._refused:
            self.pacer._schedules.answered(self.address, _now())

    def refused(self, *, retry_after: float | None = None) -> None:
        """The provider refused the request unread (a 429): it does not count; with `retry_after`, the
        address is paused that long."""
        self._refused = True
        if retry_after is not None:
            self.pacer.pause(self.address, retry_after)

    def cost(self, units: int) -> None:
        """What the request cost, once known (an SMS whose segments were counted by the provider)."""
        self._extra = max(0, units - self._held)
