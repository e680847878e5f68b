"""The Telegram stack for tests and the benchmark: the real channel and python-telegram-bot, talking over
HTTP to FakeTelegramServer on 127.0.0.1; in webhook mode our Starlette app runs under uvicorn and the fake
POSTs updates to it with the secret header.

    async with telegram_stack(database_url, clock, mode="webhook") as stack:
        chat = stack.chat(4242)
        await chat.send("/start")
        await chat.tap("Oui, je suis d'accord")
        assert "quartier" in chat.text

No pytest import: bench/bench_telegram.py uses it too.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn

from relai_bot.channels.telegram.channel import TelegramChannel
from relai_bot.clock import Clock
from relai_bot.config import load_settings
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.services.text import fold
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime, build_runtime, migrate, seed_demo
from tests.fakes.telegram_api import FakeTelegramServer

TOKEN = "123456:TEST-relai-token"
Mode = Literal["polling", "webhook"]
# Flood limits relaxed for conversations (a resident tapping as fast as a test does); the channel stays
# under them. Realistic limits (1/s per chat, burst 3; 30/s) are tested on their own.
RELAXED_FAKE = {"per_chat_rate": 50.0, "per_chat_burst": 20, "global_rate": 200.0}
RELAXED_CHANNEL = {"telegram_chat_interval": 0.025, "telegram_chat_burst": 15, "telegram_rate": 150.0}


async def no_sleep(seconds: float) -> None:
    """Retry backoff in tests: not waited (the pacer's waits are real: the fake counts real time)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@dataclass
class TelegramStack:
    runtime: Runtime
    channel: TelegramChannel
    srv: FakeTelegramServer
    mode: Mode
    public_url: str | None = None

    def chat(self, chat_id: int, **user: Any) -> TgChat:
        return TgChat(self, chat_id, user)

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every pushed update was taken and handled, and every reply sent."""
        await eventually(lambda: not self.srv.pending_updates, timeout)
        await asyncio.wait_for(self.channel.idle(), timeout)


@dataclass
class TgChat:
    """A resident in a private chat with the bot, pressing the buttons the fake server recorded."""

    stack: TelegramStack
    chat_id: int
    user: dict[str, Any] = field(default_factory=dict)
    seen: int = 0
    presses: int = 0

    @property
    def srv(self) -> FakeTelegramServer:
        return self.stack.srv

    def _mark(self) -> None:
        self.seen = len(self.srv.texts(self.chat_id))

    async def send(self, text: str | None, **extra: Any) -> list[str]:
        self._mark()
        self.srv.user_message(self.chat_id, text, **self.user, **extra)
        await self.stack.settle()
        return self.new

    async def push(self, update: dict[str, Any]) -> list[str]:
        self._mark()
        self.srv.push_update(update)
        await self.stack.settle()
        return self.new

    async def press(self, data: str, message_id: int | None = None) -> list[str]:
        self._mark()
        self.presses += 1
        self.srv.callback_press(self.chat_id, data, message_id)
        await self.stack.settle()
        return self.new

    async def tap(self, label: str) -> list[str]:
        return await self.press(self.button(label))

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of the inline keyboard of the latest bot message that has one."""
        for message in reversed(self.srv.chat_messages(self.chat_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard")
            if message.get("from", {}).get("is_bot") and rows:
                return [(b["text"], b["callback_data"]) for row in rows for b in row]
        return []

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.buttons()]

    def button(self, label: str) -> str:
        wanted = fold(label)
        buttons = self.buttons()
        for text, data in buttons:
            if fold(text) == wanted:
                return data
        for text, data in buttons:
            if fold(text).startswith(wanted):
                return data
        raise AssertionError(f"no button {label!r} among {[t for t, _ in buttons]}")

    @property
    def new(self) -> list[str]:
        """Texts the bot sent since the last action."""
        return self.srv.texts(self.chat_id)[self.seen :]

    @property
    def text(self) -> str:
        return "\n\n".join(self.new)


def stack_settings(database_url: str, srv: FakeTelegramServer, **overrides: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "telegram_token": TOKEN,
        "telegram_api_url": srv.base_url,
        "telegram_poll_seconds": 10,
        **overrides,
    }


@asynccontextmanager
async def telegram_stack(
    database_url: str,
    clock: Clock,
    *,
    mode: Mode = "polling",
    fake: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    strict: bool = True,
    seed: bool = True,
    server_class: type[FakeTelegramServer] = FakeTelegramServer,
) -> AsyncIterator[TelegramStack]:
    """The whole stack, started; stopped on exit. `fake`: FakeTelegramServer options; `settings`: ours."""
    async with server_class(token=TOKEN, **(fake if fake is not None else RELAXED_FAKE)) as srv:
        port = free_port()
        public_url = f"http://127.0.0.1:{port}" if mode == "webhook" else None
        values = stack_settings(
            database_url, srv, public_url=public_url, **(settings if settings is not None else RELAXED_CHANNEL)
        )
        runtime = build_runtime(load_settings(**values), clock, strict=strict)
        migrate(runtime)
        if seed:
            seed_demo(runtime)
        records = DeliveryRecords(runtime.db, runtime.clock)
        channel = TelegramChannel(runtime.settings, runtime.dispatcher, runtime.renderer, records, sleep=no_sleep)
        stack = TelegramStack(runtime, channel, srv, mode, public_url)
        try:
            if mode == "polling":
                await channel.start()
                try:
                    yield stack
                finally:
                    await channel.stop()
            else:
                srv.deliver_webhooks = True
                app = create_app(runtime, with_scheduler=False, channels=[channel])
                config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
                server = uvicorn.Server(config)
                serving = asyncio.create_task(server.serve())
                try:
                    await eventually(lambda: server.started or serving.done(), 20.0)
                    if serving.done():
                        serving.result()
                    yield stack
                finally:
                    server.should_exit = True
                    await serving
        finally:
            runtime.close()


async def full_journey(stack: TelegramStack, chat_id: int) -> TgChat:
    """Onboarding -> find a scheme -> book -> my appointments -> cancel, by buttons alone."""
    chat = stack.chat(chat_id)
    await chat.send("/start")
    assert "Êtes-vous d'accord ?" in chat.text
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Oui")
    await chat.tap("Saint-Laurent")
    await chat.tap("Plus tard")
    assert "Que voulez-vous faire ?" in chat.text
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    await chat.tap("18 à 25 ans")
    await chat.tap("Jeune, ni emploi ni études")
    await chat.tap("Trouver un emploi")
    assert "Voici les aides qui vous vont le mieux" in chat.text
    await chat.tap("CEJ")
    assert "Contrat d'engagement jeune" in chat.text
    await chat.tap("Prendre rendez-vous")
    assert "prochains rendez-vous libres" in chat.text
    await chat.press(chat.buttons()[0][1])
    assert "Je réserve ?" in chat.text
    await chat.tap("Oui, je réserve")
    assert "C'est réservé !" in chat.text
    await chat.tap("Mes rendez-vous")
    assert "Vous avez 1 rendez-vous." in chat.text
    await chat.press(chat.buttons()[0][1])
    await chat.tap("Annuler ce rendez-vous")
    assert "Vous voulez vraiment annuler" in chat.text
    await chat.tap("Oui, j'annule")
    assert "C'est annulé" in chat.text
    return chat
