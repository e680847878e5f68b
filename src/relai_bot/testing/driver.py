"""A scenario driver: `chat = driver.resident()`, `await chat.send("bonjour")`, `await chat.tap("Oui")`.

It goes through the real dispatcher, engine and database; only the channel is left out (the channel
issues run the same scenarios through their providers' clients).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from relai_bot.clock import Clock
from relai_bot.services.text import fold
from relai_bot.turns import Inbound, InboundKind, Option, Reply, Turn
from relai_bot.wiring import Runtime

_addresses = itertools.count(1)


class NoSuchOption(AssertionError):
    pass


@dataclass
class Chat:
    driver: Driver
    channel: str
    address: str
    turns: list[Turn] = field(default_factory=list)
    exchanges: int = 0
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

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
        await self.tap("Prendre rendez-vous")
        await self.tap(1)
        await self.tap(1)
        return await self.tap("Oui, je réserve")

    def option(self, label: str | int) -> Option:
        options = self.options
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
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def resident(self, channel: str = "console", address: str | None = None) -> Chat:
        return Chat(self, channel, address or f"resident-{next(_addresses)}")

    async def onboarded(self, channel: str = "console", *, district: str = "Saint-Laurent", **profile: str) -> Chat:
        """A resident who said yes to everything and stands at the menu."""
        chat = self.resident(channel)
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
        return chat
