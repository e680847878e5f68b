"""The Telegram stack for tests and the benchmark: the real channel and python-telegram-bot, talking over
HTTP to FakeTelegramServer on 127.0.0.1; in webhook mode our Starlette app runs under uvicorn and the fake
POSTs updates to it with the secret header.

    async with telegram_stack(database_url, clock, mode="webhook") as stack:
        chat = stack.resident()                  # a `Chat` (relai_bot.testing.driver) on Telegram
        await chat.send("/start")
        await chat.tap("Oui, je suis d'accord")  # presses the button by its callback data
        assert "quartier" in chat.text

`TelegramStack` is the Telegram `ChatDriver`: the shared scenarios run through it.
No pytest import (a script may use it outside pytest).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from relai_bot.channels.telegram.channel import TelegramChannel
from relai_bot.clock import Clock
from relai_bot.config import load_settings
from relai_bot.conversation.dispatcher import Dispatcher
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.testing.driver import Received, book_first_slot, find_option, onboard
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime, build_runtime, migrate, seed_demo
from tests.app_server import bound_socket, serving, url_of
from tests.conftest import TEST_ADMIN_SECRET
from tests.fakes.telegram_api import FakeTelegramServer

TOKEN = "123456:TEST-relai-token"
Mode = Literal["polling", "webhook"]
# Flood limits relaxed for conversations (a resident tapping as fast as a test does); the channel stays
# under them. Realistic limits (1/s per chat, burst 3; 30/s) are tested on their own.
RELAXED_FAKE = {"per_chat_rate": 50.0, "per_chat_burst": 20, "global_rate": 200.0}
RELAXED_CHANNEL = {"telegram_chat_interval": 0.025, "telegram_chat_burst": 15, "telegram_rate": 150.0}
# Chat ids of the residents the stack makes up (tests that pick their own use small numbers)
FIRST_RESIDENT = 7_000_001


async def no_sleep(seconds: float) -> None:
    """Retry backoff in tests: not waited (the pacer's waits are real: the fake counts real time)."""


def telegram_channel(runtime: Runtime, dispatcher: Dispatcher | None = None) -> TelegramChannel:
    """The one place the tests build the Telegram channel (`dispatcher`: instead of the runtime's)."""
    records = DeliveryRecords(runtime.db, runtime.clock)
    chosen = dispatcher or runtime.dispatcher
    return TelegramChannel(runtime.settings, chosen, runtime.renderer, records, sleep=no_sleep)


class TgButton(NamedTuple):
    """An inline button as the resident sees it; `id` is its callback data."""

    label: str
    id: str
    number: int


@dataclass
class TelegramStack:
    runtime: Runtime
    channel: TelegramChannel
    srv: FakeTelegramServer
    mode: Mode
    public_url: str | None = None
    _chat_ids: Iterator[int] = field(default_factory=lambda: itertools.count(FIRST_RESIDENT))

    def chat(self, chat_id: int, **user: Any) -> TgChat:
        return TgChat(self, chat_id, user)

    def resident(self, chat_id: int | None = None, **user: Any) -> TgChat:
        """A resident in a private chat with the bot (a new chat id unless one is given)."""
        return self.chat(chat_id if chat_id is not None else next(self._chat_ids), **user)

    async def onboarded(
        self, chat_id: int | None = None, /, *, district: str = "Saint-Laurent", **profile: str
    ) -> TgChat:
        """A resident who said yes to everything and stands at the menu."""
        chat = self.resident(chat_id)
        await onboard(chat, district=district, **profile)
        return chat

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every pushed update was taken and handled, and every reply sent."""
        await self.srv.wait_until(lambda: not self.srv.pending_updates, timeout)
        await asyncio.wait_for(self.channel.idle(), timeout)

    def assert_clean(self) -> None:
        """Nothing went wrong: no handler error, no call Telegram would refuse, every button press answered."""
        assert not self.channel.errors, list(self.channel.errors)
        assert self.srv.violations == []
        assert self.srv.unanswered_callbacks == []


@dataclass
class TgChat:
    """A resident in a private chat with the bot, pressing the buttons the fake server recorded."""

    stack: TelegramStack
    chat_id: int
    user: dict[str, Any] = field(default_factory=dict)
    seen: int = 0
    seen_message_id: int = 0
    presses: int = 0
    channel = "telegram"

    @property
    def address(self) -> str:
        return str(self.chat_id)

    @property
    def srv(self) -> FakeTelegramServer:
        return self.stack.srv

    def _mark(self) -> None:
        self.seen = len(self.srv.texts(self.chat_id))
        messages = self.srv.chat_messages(self.chat_id)
        self.seen_message_id = max((m["message_id"] for m in messages), default=0)

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
        """Press a button by its callback data (an old one, a forged one)."""
        self._mark()
        self.presses += 1
        self.srv.callback_press(self.chat_id, data, message_id)
        await self.stack.settle()
        return self.new

    async def tap(self, label: str | int) -> list[str]:
        """Press the button with that label (or label start), or the button with that number."""
        return await self.press(self.button(label))

    async def book_first_slot(self) -> object:
        return await book_first_slot(self)

    def _keyboard(self, message: dict[str, Any]) -> list[TgButton]:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        buttons = [b for row in rows for b in row]
        return [TgButton(b["text"], b["callback_data"], n) for n, b in enumerate(buttons, 1)]

    def _bot_messages(self, *, new: bool) -> list[dict[str, Any]]:
        return [
            m
            for m in self.srv.chat_messages(self.chat_id)
            if m.get("from", {}).get("is_bot") and (not new or m["message_id"] > self.seen_message_id)
        ]

    def buttons(self) -> list[TgButton]:
        """The inline keyboard of the latest bot message that has one: the buttons on the screen."""
        for message in reversed(self._bot_messages(new=False)):
            if keyboard := self._keyboard(message):
                return keyboard
        return []

    def button(self, label: str | int) -> str:
        """The callback data of the button on the screen with that label (or label start), or number."""
        return find_option(self.buttons(), label).id

    @property
    def options(self) -> list[TgButton]:
        """The buttons sent in answer to the last message (none: an empty list)."""
        for message in reversed(self._bot_messages(new=True)):
            if keyboard := self._keyboard(message):
                return keyboard
        return []

    def option(self, label: str | int) -> TgButton:
        return find_option(self.options, label)

    @property
    def labels(self) -> list[str]:
        return [button.label for button in self.options]

    @property
    def new(self) -> list[str]:
        """Texts the bot sent since the last action."""
        return self.srv.texts(self.chat_id)[self.seen :]

    @property
    def text(self) -> str:
        return "\n\n".join(self.new)

    @property
    def last(self) -> Received:
        return Received(self.new[-1])


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
    dispatcher: Callable[[Dispatcher], Dispatcher] | None = None,
) -> AsyncIterator[TelegramStack]:
    """The whole stack, started; stopped on exit. `fake`: FakeTelegramServer options; `settings`: ours;
    `dispatcher`: wraps the runtime's dispatcher for the channel (e.g. the staff desk, StaffDesk)."""
    async with server_class(token=TOKEN, **(fake if fake is not None else RELAXED_FAKE)) as srv:
        sock = bound_socket() if mode == "webhook" else None
        public_url = url_of(sock) if sock is not None else None
        values = stack_settings(
            database_url, srv, public_url=public_url, **(settings if settings is not None else RELAXED_CHANNEL)
        )
        runtime = build_runtime(load_settings(admin_secret_key=TEST_ADMIN_SECRET, **values), clock, strict=strict)
        try:
            migrate(runtime)
            if seed:
                seed_demo(runtime)
            channel = telegram_channel(runtime, dispatcher(runtime.dispatcher) if dispatcher else None)
            stack = TelegramStack(runtime, channel, srv, mode, public_url)
            if sock is None:
                await channel.start()
                try:
                    yield stack
                finally:
                    await channel.stop()
            else:
                srv.deliver_webhooks = True
                app = create_app(runtime, with_scheduler=False, channels=[channel])
                async with serving(app, sock):
                    yield stack
        finally:
            if sock is not None:
                sock.close()
            runtime.close()
