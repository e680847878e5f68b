"""Updates handled per second and reply latency, end to end through python-telegram-bot.

FakeTelegramServer on 127.0.0.1 stands where Telegram would be; the Telegram channel runs for real in
polling mode (long polling getUpdates) and in webhook mode (our Starlette app under uvicorn on a free
127.0.0.1 port, the fake POSTing each update with the secret header). A temporary SQLite database holds
the demo data. Many simulated residents act at once, each like a person: press a button, wait for the
answer, press one of the buttons it carries (a random walk through the menus, booking included; erasing
and stopping left out), and so on.

    .venv/bin/python -m bench.bench_telegram --chats 50 --updates 1500 --max-seconds 60

Latency: from the moment the update is available at the fake to the moment the fake accepts the first
reply message (getUpdates or webhook delivery, PTB, the engine's turn in the database, rendering,
pacing, sendMessage). Flood limits: relaxed by default (the fake still enforces 50 a second per chat and
1000 overall, the channel paces under them), so the figures measure the stack, not Telegram's limits;
`--limits realistic` applies Telegram's (1 a second per chat after a burst of 3, 30 overall), and the
figures then mostly show the pacing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.fakes.telegram_api import FakeTelegramServer
from tests.telegram_harness import Mode, TelegramStack, telegram_stack

from bench._common import max_rss_mib, percentiles
from relai_bot.clock import SystemClock

LIMITS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # (fake server, channel settings)
    "relaxed": (
        {"per_chat_rate": 50.0, "per_chat_burst": 20, "global_rate": 1000.0},
        {"telegram_chat_interval": 0.025, "telegram_chat_burst": 15, "telegram_rate": 800.0},
    ),
    "realistic": ({}, {}),
}
# Buttons a simulated resident never presses (they would end the resident's part of the run)
AVOID = ("non merci", "oublier", "ne plus recevoir", "tout effacer", "plus de messages", "chercher par un mot")
REPLY_WAIT = 10.0


class BenchServer(FakeTelegramServer):
    """The fake, telling each chat's resident when a bot message arrives (and whether it has buttons)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inbox: dict[int, asyncio.Queue[tuple[float, list[str]]]] = defaultdict(asyncio.Queue)

    def _store_message(self, message: dict[str, Any]) -> None:
        super()._store_message(message)
        if message.get("from", {}).get("is_bot"):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            buttons = [f"{b['text']}\x00{b['callback_data']}" for row in rows for b in row]
            self.inbox[message["chat"]["id"]].put_nowait((time.perf_counter(), buttons))


async def resident(
    stack: TelegramStack, chat_id: int, budget: list[int], latencies: list[float], deadline: float
) -> None:
    srv: BenchServer = stack.srv  # type: ignore[assignment]
    inbox = srv.inbox[chat_id]
    rng = random.Random(chat_id)
    buttons: list[str] = []
    while budget[0] > 0 and time.monotonic() < deadline:
        budget[0] -= 1
        choices = [b for b in buttons if not any(word in b.lower() for word in AVOID)]
        started = time.perf_counter()
        if choices:
            srv.callback_press(chat_id, rng.choice(choices).split("\x00")[1])
        else:
            srv.user_message(chat_id, "/start" if budget[0] % 7 else "/menu")
        try:
            arrived, buttons = await asyncio.wait_for(inbox.get(), REPLY_WAIT)
        except TimeoutError:
            buttons = []
            continue
        latencies.append((arrived - started) * 1000)
        while not buttons:  # the turn's last message carries the buttons
            try:
                _, buttons = await asyncio.wait_for(inbox.get(), 1.0)
            except TimeoutError:
                break


async def run_mode(mode: Mode, chats: int, updates: int, max_seconds: float, limits: str) -> None:
    fake, settings = LIMITS[limits]
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        options: dict[str, Any] = {"fake": fake, "settings": settings, "strict": False, "server_class": BenchServer}
        async with telegram_stack(url, SystemClock(), mode=mode, **options) as stack:
            latencies: list[float] = []
            budget = [updates]
            deadline = time.monotonic() + max_seconds
            started = time.perf_counter()
            await asyncio.gather(*(resident(stack, 10_000 + n, budget, latencies, deadline) for n in range(chats)))
            await stack.channel.idle()
            elapsed = time.perf_counter() - started
            report(mode, stack, chats, latencies, elapsed)


def report(mode: str, stack: TelegramStack, chats: int, latencies: list[float], elapsed: float) -> None:
    srv = stack.srv
    handled = len(latencies)
    sent = len(srv.sent_messages())
    floods = sum(1 for v in srv.violations if v.kind == "flood")
    print(
        f"{mode:>8}: {handled} updates answered in {elapsed:.1f} s = {handled / elapsed:.0f} updates/s "
        f"({chats} chats, {sent} messages sent, {sent / elapsed:.0f} msg/s)"
    )
    print(f"{'':>8}  first-reply latency {percentiles(latencies)}")
    print(
        f"{'':>8}  429 from the fake: {floods}, other refusals: {len(srv.violations) - floods}, "
        f"handler errors: {len(stack.channel.errors)}"
    )


async def main(args: argparse.Namespace) -> None:
    print(
        f"Telegram channel benchmark: SQLite, demo data, limits {args.limits}, "
        f"{args.chats} chats, up to {args.updates} updates or {args.max_seconds:.0f} s per mode"
    )
    for mode in args.modes:
        await run_mode(mode, args.chats, args.updates, args.max_seconds, args.limits)
    print(f"max RSS {max_rss_mib():.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--updates", type=int, default=1500)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--limits", choices=sorted(LIMITS), default="relaxed")
    parser.add_argument("--modes", nargs="+", choices=["polling", "webhook"], default=["polling", "webhook"])
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(parser.parse_args()))
