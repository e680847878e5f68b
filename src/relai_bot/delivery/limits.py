"""Provider rate limits, enforced before each send (real time, not the injectable clock).

`WindowLimiter`: at most `rate` sends in any sliding window of one second, whatever the network jitter.
`ChatSpacing`: at least `interval` seconds between two sends to the same chat (Telegram: 1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelLimits:
    """Messages per second for a channel (SMS: segments per second per sender), and spacing per chat."""

    rate: float
    chat_interval: float = 0.0
    # How many sends may be in flight at once
    concurrency: int = 8


class WindowLimiter:
    """At most `capacity` requests per window, counted the safe way round.

    A request holds a place from the moment it starts until one window after its answer came back. Its
    arrival at the provider lies between the two, so however the network delays requests, no window of
    the provider's clock ever sees more than `capacity` of them. The price is one round trip per window
    (a few milliseconds locally, a tenth of a second or two to a distant API).
    """

    def __init__(
        self, rate: float, *, period: float = 1.0, margin: float = 0.002, now: Callable[[], float] = time.monotonic
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, math.floor(rate * period))
        self.window = (period if rate * period >= 1 else 1 / rate) * (1 + margin)
        self._now = now
        self._done: deque[float] = deque()
        self._inflight = 0
        self._changed = asyncio.Event()

    def _prune(self, now: float) -> None:
        while self._done and self._done[0] <= now - self.window:
            self._done.popleft()

    @property
    def used(self) -> int:
        self._prune(self._now())
        return self._inflight + len(self._done)

    async def acquire(self) -> None:
        """Wait for a place; every `acquire` is followed by one `release`."""
        while True:
            now = self._now()
            self._prune(now)
            if self._inflight + len(self._done) < self.capacity:
                self._inflight += 1
                return
            self._changed.clear()
            timeout = self._done[0] + self.window - now if self._done else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def release(self, *, counted: bool = True, units: int = 1) -> None:
        """The answer came back. `counted=False`: the provider refused it unread (a 429), the place is free
        at once; `units` > 1: it cost more than one (an SMS of several segments)."""
        self._inflight -= 1
        if counted:
            now = self._now()
            self._done.extend([now] * max(1, units))
        self._changed.set()


class ChatSpacing:
    """Reserve the next moment a chat may receive a message; counted again from each answer (as above)."""

    def __init__(self, interval: float, *, margin: float = 0.01, now: Callable[[], float] = time.monotonic):
        self.interval = interval * (1 + margin) if interval > 0 else 0.0
        self._now = now
        self._next: dict[str, float] = {}

    def reserve(self, address: str) -> float:
        """Seconds to wait before sending to `address` (0 when it may go now)."""
        if self.interval <= 0:
            return 0.0
        now = self._now()
        if len(self._next) > 10_000:
            self._next = {a: t for a, t in self._next.items() if t > now}
        at = max(now, self._next.get(address, now))
        self._next[address] = at + self.interval
        return at - now

    async def wait(self, address: str) -> None:
        delay = self.reserve(address)
        if delay > 0:
            await asyncio.sleep(delay)

    def reserve_at_least(self, address: str, seconds: float) -> None:
        """The provider asked to wait before writing to this chat again."""
        self._next[address] = max(self._next.get(address, 0.0), self._now() + seconds)

    def done(self, address: str) -> None:
        """The answer came back: the next message to this chat waits a full interval from now."""
        if self.interval > 0:
            self._next[address] = max(self._next.get(address, 0.0), self._now() + self.interval)
