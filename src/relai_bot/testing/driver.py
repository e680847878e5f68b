"""Scenario drivers: a resident's conversation, written once, run on every channel.

    chat = driver.resident()                    # a new resident
    await chat.send("bonjour")
    await chat.tap("Oui, je suis d'accord")     # by label (or its start), or by number: chat.tap(1)
    assert "Dans quel quartier" in chat.text    # all the service answered to the last message
    assert "Saint-Laurent" in chat.labels       # the choices offered

`Chat` is all a scenario may use; each channel drives it its own way. Here, the console (`ConsoleChat`):
the real dispatcher, engine and database, no channel. In tests/, Telegram (python-telegram-bot through
the Telegram channel against the fake Bot API: updates in, buttons pressed by their callback data) and
SMS (signed Twilio webhooks into the SMS channel, replies read at the fake Twilio server, options
answered by their number). A `ChatDriver` makes residents on its channel; the shared steps below
(`onboard`, `book_first_slot`) are written with `send` and `tap` alone, so they work on all of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from relai_bot.clock import Clock
from relai_bot.services.text import fold
from relai_bot.turns import Inbound, InboundKind, Option, Reply, Turn
from relai_bot.wiring import Runtime

_addresses = itertools.count(1)


class NoSuchOption(AssertionError):
    pass


# -- the interface every channel's driver offers ------------------------------------------------------


class Choice(Protocol):
    """An option as the resident sees it: a button, a numbered line."""

    @property
    def label(self) -> str: ...

    @property
    def number(self) -> int: ...


class Said(Protocol):
    """One message the service sent."""

    @property
    def text(self) -> str: ...


class Chat(Protocol):
    """A resident talking with the service on one channel."""

    @property
    def channel(self) -> str: ...

    @property
    def address(self) -> str:
        """The resident's address on the channel (a chat id, a phone number), as stored."""
        ...

    async def send(self, text: str, /) -> object:
        """Type a message; returns once the service answered it (and its answers were delivered)."""
        ...

    async def tap(self, label: str | int, /) -> object:
        """Choose the option whose label is (or starts with) `label`, or the option with that number."""
        ...

    async def book_first_slot(self) -> object:
        """From the menu: book the first free slot with a general adviser."""
        ...

    def option(self, label: str | int, /) -> Choice:
        """The option offered with that label (or label start) or number; NoSuchOption otherwise."""
        ...

    @property
    def text(self) -> str:
        """All the service said in answer to the last message; `"…" in chat.text` compares as the
        resident reads it on this channel (by SMS, without what GSM-7 cannot write)."""
        ...

    @property
    def last(self) -> Said:
        """The last message of that answer."""
        ...

    @property
    def options(self) -> Sequence[Choice]:
        """The choices offered in answer to the last message (none: an empty list)."""
        ...

    @property
    def labels(self) -> list[str]: ...


@dataclass(frozen=True)
class Received:
    """A message as the resident received it (what `Chat.last` is on Telegram and by SMS)."""

    text: str


class Button(Choice, Protocol):
    """An option with an id that outlives its message: a button can be pressed again later."""

    @property
    def id(self) -> str: ...


class ButtonChat(Chat, Protocol):
    """A chat with buttons (the console, Telegram): an old or forged button can still be pressed."""

    async def press(self, option_id: str, /) -> object:
        """Press a button by its raw id (an old one, a forged one)."""
        ...

    def option(self, label: str | int, /) -> Button: ...


class ChatDriver(Protocol):
    """Makes residents on one channel; `runtime` is the service behind it (database, clock, settings)."""

    @property
    def runtime(self) -> Runtime: ...

    def resident(self) -> Chat:
        """A new resident, who never wrote."""
        ...

    async def onboarded(self, *, district: str = "Saint-Laurent", **profile: str) -> Chat:
        """A new resident who said yes to everything and stands at the menu."""
        ...


# -- what every channel shares -----------------------------------------------------------------------

C = TypeVar("C", bound=Choice)


def find_option(options: Sequence[C], label: str | int) -> C:
    """The option with that number, or whose label is `label` (else starts with it), accents and case aside."""
    if isinstance(label, int):
        found = [o for o in options if o.number == label]
    else:
        wanted = fold(label)
        found = [o for o in options if fold(o.label) == wanted] or [
            o for o in options if fold(o.label).startswith(wanted)
        ]
    if not found:
        raise NoSuchOption(f"no option {label!r} among {[o.label for o in options]}")
    return found[0]


async def onboard(chat: Chat, *, district: str = "Saint-Laurent", **profile: str) -> None:
    """Say hello, consent, accept the offers, give the district, and the profile (or "later")."""
    await chat.send("bonjour")
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Oui")
    await chat.tap(district)
    if profile:
        await chat.tap("Oui")
        await chat.tap(profile["age"])
        await chat.tap(profile["situation"])
    else:
        await chat.tap("Plus tard")


async def book_first_slot(chat: Chat) -> object:
    """From the menu: book the first free slot with a general adviser ("Je ne sais pas" for the scheme)."""
    await chat.tap("Prendre rendez-vous")
    await chat.tap(1)
    await chat.tap(1)
    return await chat.tap("Oui, je réserve")


# -- the console: the engine through the dispatcher, no channel -------------------------------------------


@dataclass
class ConsoleChat:
    driver: Driver
    channel: str
    address: str
    turns: list[Turn] = field(default_factory=list)
    exchanges: int = 0

    async def _handle(self, inbound: Inbound) -> Turn:
        turn = await self.driver.runtime.dispatcher.handle(inbound)
        self.turns.append(turn)
        self.exchanges += 1
        return turn

    def _inbound(self, kind: InboundKind, **fields: Any) -> Inbound:
        return Inbound(channel=self.channel, address=self.address, kind=kind, **fields)

    async def send(self, text: str, *, message_id: str | None = None) -> Turn:
        return await self._handle(self._inbound("text", text=text, message_id=message_id))

    async def send_kind(self, kind: InboundKind, **payload: Any) -> Turn:
        return await self._handle(self._inbound(kind, payload=payload))

    async def start(self, payload: str = "") -> Turn:
        return await self._handle(self._inbound("start", payload={"payload": payload}))

    async def press(self, option_id: str) -> Turn:
        """Press a button by its raw id (to replay an old one, or a forged one)."""
        return await self._handle(self._inbound("choice", choice=option_id))

    async def tap(self, label: str | int) -> Turn:
        """Press the option whose label is (or starts with) `label`, or the option with that number."""
        return await self.press(self.option(label).id)

    async def book_first_slot(self) -> Turn:
        """From the menu: book the first free slot with a general adviser ("Je ne sais pas" for the scheme)."""
        turn = await book_first_slot(self)
        assert isinstance(turn, Turn)
        return turn

    def option(self, label: str | int) -> Option:
        return find_option(self.options, label)

    @property
    def turn(self) -> Turn:
        return self.turns[-1]

    @property
    def last(self) -> Reply:
        return self.turn.replies[-1]

    @property
    def text(self) -> str:
        """All the text of the last turn."""
        return self.turn.text

    @property
    def options(self) -> list[Option]:
        return self.turn.options

    @property
    def labels(self) -> list[str]:
        return [o.label for o in self.options]


class Driver:
    """The console's driver: residents talk to the dispatcher directly (any channel name will do)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def resident(self, channel: str = "console", address: str | None = None) -> ConsoleChat:
        return ConsoleChat(self, channel, address or f"resident-{next(_addresses)}")

    async def onboarded(
        self,
        channel: str = "console",
        *,
        address: str | None = None,
        district: str = "Saint-Laurent",
        **profile: str,
    ) -> ConsoleChat:
        """A resident who said yes to everything and stands at the menu."""
        chat = self.resident(channel, address)
        await onboard(chat, district=district, **profile)
        return chat
