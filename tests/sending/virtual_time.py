"""An event loop whose clock only moves when every task is waiting: tests of timing rules run at once and
always the same way (no test waits for real time, none depends on the machine's load).

    def test_something() -> None:
        async def scenario() -> None:
            await asyncio.sleep(60)          # returns at once; the loop's clock moved 60 s
        run_virtual(scenario)
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _Selector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Real file readiness first; when nothing is ready, jump the clock to the next timer."""

    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer: only a file (another thread) can wake the loop
            return super().select(None)
        self._clock[0] += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 1000.0) -> None:
        self._clock = [start]
        super().__init__(_Selector(self._clock))

    def time(self) -> float:
        return self._clock[0]


def run_virtual(scenario: Callable[[], Awaitable[T]]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()
