"""The dispatcher's rate limiter and per-chat spacing (real time, small rates)."""

from __future__ import annotations

import asyncio
import random
import time

from relai_bot.delivery.limits import ChatSpacing, WindowLimiter


async def test_no_window_ever_sees_more_than_the_rate_whatever_the_latency() -> None:
    limiter = WindowLimiter(10)
    arrivals: list[float] = []
    rng = random.Random(3)

    async def request() -> None:
        await limiter.acquire()
        # the request reaches the provider some time after it starts, and the answer comes back later
        await asyncio.sleep(rng.uniform(0, 0.05))
        arrivals.append(time.monotonic())
        await asyncio.sleep(rng.uniform(0, 0.05))
        limiter.release()

    started = time.monotonic()
    await asyncio.gather(*(request() for _ in range(35)))
    arrivals.sort()
    busiest = max(sum(1 for t in arrivals[i:] if t < arrivals[i] + 1.0) for i in range(len(arrivals)))
    assert busiest <= 10
    assert time.monotonic() - started >= 3.0  # 35 requests at 10 per second


async def test_a_refused_request_frees_its_place_at_once() -> None:
    limiter = WindowLimiter(2)
    await limiter.acquire()
    await limiter.acquire()
    limiter.release(counted=False)
    await asyncio.wait_for(limiter.acquire(), 0.1)
    assert limiter.used == 2


async def test_a_long_sms_counts_its_segments() -> None:
    limiter = WindowLimiter(5)
    await limiter.acquire()
    limiter.release(units=4)
    await limiter.acquire()
    assert limiter.used == 5


def test_chat_spacing_reserves_one_interval_per_message() -> None:
    now = [100.0]
    spacing = ChatSpacing(1.0, margin=0.0, now=lambda: now[0])
    assert spacing.reserve("a") == 0.0
    assert spacing.reserve("b") == 0.0
    assert spacing.reserve("a") == 1.0
    now[0] += 0.5
    spacing.done("a")  # the answer came at 100.5: the next one waits until 101.5 at least
    assert spacing.reserve("a") == 1.5
    spacing.reserve_at_least("b", 7)  # the provider said retry after 7 s
    assert spacing.reserve("b") == 7.0
    assert ChatSpacing(0).reserve("a") == 0.0
