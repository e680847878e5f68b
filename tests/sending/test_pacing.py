"""The pacer's rules, in virtual time (tests/sending/virtual_time.py): requests with random latency, and
what the provider's clock sees, counted the way Telegram and the fake servers count."""

from __future__ import annotations

import asyncio
import bisect
import random

import pytest

from relai_bot.sending.pacing import Pacer, PaceRules
from tests.sending.virtual_time import run_virtual


def now() -> float:
    return asyncio.get_running_loop().time()


def busiest_second(arrivals: list[tuple[float, int]]) -> int:
    """The most units any one-second window of the provider's clock saw."""
    times = sorted(t for t, units in arrivals for _ in range(units))
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


def refused_by_bucket(arrivals: list[float], burst: int, rate: float) -> int:
    """How many of a chat's messages a token bucket (Telegram's per-chat limit) would refuse."""
    tokens, stamp, refused = float(burst), None, 0
    for t in sorted(arrivals):
        if stamp is not None:
            tokens = min(float(burst), tokens + (t - stamp) * rate)
        stamp = t
        if tokens < 1:
            refused += 1
        else:
            tokens -= 1
    return refused


async def request(
    pacer: Pacer, address: str, rng: random.Random, arrivals: list[tuple[float, int]], *, units: int = 1
) -> None:
    """One request: it reaches the provider some time after it leaves, the answer comes back later."""
    async with pacer.slot(address, units=units):
        await asyncio.sleep(rng.uniform(0, 0.3))
        arrivals.append((now(), units))
        await asyncio.sleep(rng.uniform(0, 0.3))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_second_of_the_provider_sees_more_than_the_rate_whatever_the_latency(seed: int) -> None:
    async def scenario() -> float:
        pacer = Pacer(PaceRules(rate=10))
        rng = random.Random(seed)
        arrivals: list[tuple[float, int]] = []
        start = now()
        await asyncio.gather(*(request(pacer, f"chat-{n}", rng, arrivals) for n in range(300)))
        assert len(arrivals) == 300
        assert busiest_second(arrivals) <= 10
        return now() - start

    elapsed = run_virtual(scenario)
    # The safe count costs a round trip (0.6 s at most here) per window, not more
    assert elapsed <= 300 / 10 * 1.6


def test_sms_segments_count_and_a_long_sms_holds_its_segments_in_flight() -> None:
    async def scenario() -> None:
        pacer = Pacer(PaceRules(rate=10))
        rng = random.Random(7)
        arrivals: list[tuple[float, int]] = []
        sizes = [rng.choice([1, 1, 2, 3, 6]) for _ in range(120)]
        await asyncio.gather(*(request(pacer, f"+2626920{n:05d}", rng, arrivals, units=u) for n, u in enumerate(sizes)))
        assert busiest_second(arrivals) <= 10
        await asyncio.sleep(1.1)  # the window is empty again
        async with pacer.slot("+262692000000", units=4):
            assert pacer.in_use == 4  # held from the start, not only once answered

    run_virtual(scenario)


def test_a_cost_known_after_the_answer_is_counted() -> None:
    async def scenario() -> None:
        pacer = Pacer(PaceRules(rate=5))
        async with pacer.slot("a") as slot:
            slot.cost(4)  # a plain Sender's SMS came back with 4 segments
        assert pacer.in_use == 4
        start = now()
        async with pacer.slot("b", units=2):
            assert now() - start >= 1.0  # 4 + 2 > 5: the window had to pass

    run_virtual(scenario)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_chat_gets_its_burst_then_one_message_per_interval(seed: int) -> None:
    """Telegram: a burst of 3, then one a second per chat; one chat's messages go one after the other
    (the channel's chat lanes), several chats at once; whatever the latency the bucket never refuses."""

    async def scenario() -> None:
        pacer = Pacer(PaceRules(rate=1000, chat_interval=1.0, chat_burst=3))
        rng = random.Random(seed)
        arrivals: dict[str, list[tuple[float, int]]] = {f"chat-{n}": [] for n in range(5)}

        async def chat(address: str, count: int) -> None:
            for _ in range(count):
                await request(pacer, address, rng, arrivals[address])
                await asyncio.sleep(rng.choice([0.0, 0.0, 0.5]))

        await asyncio.gather(*(chat(address, 12) for address in arrivals))
        for sent in arrivals.values():
            times = [t for t, _ in sent]
            assert refused_by_bucket(times, burst=3, rate=1.0) == 0
            assert times[3] - times[0] >= 1.0  # the burst was 3

    run_virtual(scenario)


def test_the_burst_goes_at_once_when_the_provider_answers_at_once() -> None:
    async def scenario() -> None:
        pacer = Pacer(PaceRules(rate=30, chat_interval=1.0, chat_burst=3))
        start, left = now(), []
        for _ in range(5):
            async with pacer.slot("chat"):
                left.append(round(now() - start, 2))
        assert left == [0.0, 0.0, 0.0, 1.01, 2.02]  # a hair over the interval: clock granularity

    run_virtual(scenario)


def test_retry_after_pauses_the_chat_and_the_refused_request_does_not_count() -> None:
    async def scenario() -> None:
        pacer = Pacer(PaceRules(rate=2, chat_interval=1.0, chat_burst=3))
        start = now()
        async with pacer.slot("chat") as slot:
            slot.refused(retry_after=5.0)  # Telegram: 429, retry after 5 s
        assert pacer.in_use == 0
        async with pacer.slot("other"):  # another chat is not paused
            assert now() == start
        async with pacer.slot("chat"):
            assert now() - start == pytest.approx(5.0)
        async with pacer.slot("chat"):  # after the pause, no burst: one interval apart
            assert now() - start == pytest.approx(6.01)

    run_virtual(scenario)


def test_conversation_replies_are_served_before_the_outbox() -> None:
    async def scenario() -> None:
        pacer = Pacer(PaceRules(rate=1))
        order: list[str] = []

        async def send(name: str, *, urgent: bool) -> None:
            async with pacer.slot(name, urgent=urgent):
                order.append(name)

        await send("first", urgent=False)  # fills the window for a second
        waiting = [asyncio.create_task(send(f"broadcast-{n}", urgent=False)) for n in range(3)]
        await asyncio.sleep(0.1)
        waiting.append(asyncio.create_task(send("reply", urgent=True)))
        await asyncio.gather(*waiting)
        assert order == ["first", "reply", "broadcast-0", "broadcast-1", "broadcast-2"]

    run_virtual(scenario)


def test_a_request_cancelled_while_waiting_leaves_the_line() -> None:
    async def scenario() -> None:
        pacer = Pacer(PaceRules(rate=1))
        async with pacer.slot("a"):
            pass
        stuck = asyncio.create_task(pacer.slot("b").__aenter__())
        await asyncio.sleep(0.5)
        stuck.cancel()
        start = now()
        async with pacer.slot("c"):
            assert now() - start == pytest.approx(0.5, abs=0.01)  # when the window passed, not later
        assert pacer.in_use == 1

    run_virtual(scenario)
