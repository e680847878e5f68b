"""What every channel adapter offers the web app and the delivery engine."""

from __future__ import annotations

from typing import Protocol

from starlette.routing import BaseRoute

from relai_bot.sending.contract import SendResult
from relai_bot.sending.pacing import Pacer
from relai_bot.turns import Reply


class ChannelAdapter(Protocol):
    name: str
    # The pace of everything the channel sends, replies and the delivery engine's sends alike
    pacer: Pacer

    def routes(self) -> list[BaseRoute]:
        """Web routes (webhooks) the channel needs inside the app; may be empty."""
        ...

    async def start(self) -> None:
        """Called when the app starts (e.g. register a webhook, or start polling)."""
        ...

    async def stop(self) -> None: ...

    async def send(self, address: str, reply: Reply, *, proactive: bool = False) -> SendResult:
        """One attempt to send one reply; raises relai_bot.sending.contract.SendFailure."""
        ...
