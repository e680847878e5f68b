"""Signed inbound SMS webhooks per second, and their latency, through the whole SMS stack.

The real app under uvicorn on 127.0.0.1 (a free port), a temporary SQLite database with the demo data,
the real twilio client sending the replies to FakeTwilioServer. Several simulated residents text at
the same time; each waits for the webhook's answer before its next message, as a phone would.

    .venv/bin/python -m bench.bench_sms_webhook --residents 20 --messages 600

Latency is the webhook's (what Twilio waits for: signature, de-duplication, the turn in the database,
the empty TwiML); the replies leave through the REST API right after, and are counted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from tests.fakes.twilio_api import inbound_sms_params
from tests.sms_harness import TWO_WAY, SmsStack, sms_stack

from relai_bot.clock import SystemClock

ONBOARDING = ["bonjour", "1", "1", "2", "2"]
# Then round and round the menu: help, find a scheme, book (without confirming), search, my appointments
ROUNDS = ["1", "1", "2", "3", "1", "menu", "2", "1", "1", "menu", "formation", "menu", "3", "menu", "aide"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


async def resident(
    stack: SmsStack, number: str, budget: list[int], latencies: list[float], errors: list[str], deadline: float
) -> None:
    script = iter(ONBOARDING)
    step = 0
    while budget[0] > 0 and time.monotonic() < deadline:
        budget[0] -= 1
        body = next(script, None)
        if body is None:
            body = ROUNDS[step % len(ROUNDS)]
            step += 1
        params = inbound_sms_params(number, TWO_WAY, body, message_sid="SM" + uuid.uuid4().hex)
        started = time.perf_counter()
        try:
            response = await stack.post_inbound(params)
        except httpx.TransportError as error:
            errors.append(type(error).__name__)
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            errors.append(str(response.status_code))


async def run(residents: int, messages: int, max_seconds: float, database_url: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        async with sms_stack(url, SystemClock(), sleep=asyncio.sleep, strict=False) as stack:
            numbers = [f"+262692{n:06d}" for n in range(100, 100 + residents)]
            budget = [messages]
            latencies: list[float] = []
            errors: list[str] = []
            started = time.perf_counter()
            deadline = time.monotonic() + max_seconds
            await asyncio.gather(*(resident(stack, n, budget, latencies, errors, deadline) for n in numbers))
            handled_in = time.perf_counter() - started
            await stack.channel.idle()
            drained_in = time.perf_counter() - started
            sent = stack.srv.messages
            print(f"residents={residents} webhooks={len(latencies)} in {handled_in:.2f} s ({kind}, one process)")
            print(f"webhooks handled per second: {len(latencies) / handled_in:.1f}")
            print(
                "webhook latency ms: "
                f"p50={statistics.median(latencies):.1f} p95={percentile(latencies, 0.95):.1f} "
                f"p99={percentile(latencies, 0.99):.1f} max={max(latencies):.1f}"
            )
            print(
                f"SMS received by the fake: {len(sent)} ({sum(m.segments for m in sent)} segments, "
                f"{sum(m.encoding == 'GSM-7' for m in sent)} in GSM-7), all sent after {drained_in:.2f} s; "
                f"violations={len(stack.srv.violations)}; webhook errors={len(errors)} {sorted(set(errors))}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=20, help="simulated phones texting at the same time")
    parser.add_argument("--messages", type=int, default=600, help="webhooks in all (bounded)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop sending after this long")
    parser.add_argument("--database-url", help="an EMPTY database to use (default: a temporary SQLite file)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(max(1, args.residents), max(1, args.messages), args.max_seconds, args.database_url))


if __name__ == "__main__":
    main()
