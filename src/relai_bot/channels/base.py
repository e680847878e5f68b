"""What every channel adapter offers the web app and the delivery engine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from starlette.requests import Request
from starlette.routing import BaseRoute

from relai_bot import metrics
from relai_bot.sending.contract import SendFailure, SendResult
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

    async def health(self) -> ChannelHealth:
        """Whether residents can reach the service and hear from it through this channel now (/readyz)."""
        ...


def media_type(request: Request) -> str:
    """A webhook request's Content-Type without its parameters, lower case ("" when none)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class ChannelHealth:
    """What /readyz says of a channel: `ok` False when residents would notice; `problem` says what to fix."""

    ok: bool
    # How it works now: "webhook", "polling", "sending", "simulator"
    state: str
    problem: str | None = None
    # The provider's last acceptance of a message, and its last refusal (outcome and code)
    last_accepted_at: datetime | None = None
    last_refusal: str | None = None
    last_refusal_at: datetime | None = None


# Provider answers that mean our credentials are wrong: every send will fail until someone fixes them
CREDENTIAL_CODES = frozenset({"401", "InvalidToken", "20003"})


class ProviderWatch:
    """The one place a channel reports each answer of its provider to a send request: counted for
    /metrics (relai_provider_answers) and kept, the last acceptance and the last refusal, for /readyz."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.last_accepted_at: datetime | None = None
        self.last_refusal: SendFailure | None = None
        self.last_refusal_at: datetime | None = None
        self._accepted_mono = self._refused_mono = 0.0

    def accepted(self, code: str) -> None:
        metrics.provider_answer(self.channel, "accepted", code)
        self.last_accepted_at, self._accepted_mono = datetime.now(UTC), time.monotonic()

    def refused(self, failure: SendFailure) -> None:
        metrics.provider_answer(self.channel, failure.kind, failure.code)
        self.last_refusal, self.last_refusal_at = failure, datetime.now(UTC)
        self._refused_mono = time.monotonic()

    @property
    def credentials_refused(self) -> bool:
        """The provider's last answer refused our credentials (nothing accepted since)."""
        failure = self.last_refusal
        return failure is not None and failure.code in CREDENTIAL_CODES and self._refused_mono >= self._accepted_mono

    def health(self, state: str, problem: str | None = None) -> ChannelHealth:
        """The channel's health with these answers; a refusal of the credentials is a problem."""
        if problem is None and self.credentials_refused:
            problem = (
                f"the provider refused the credentials (code {self.last_refusal.code if self.last_refusal else ''})"
            )
        failure = self.last_refusal
        return ChannelHealth(
            ok=problem is None,
            state=state,
            problem=problem,
            last_accepted_at=self.last_accepted_at,
            last_refusal=f"{failure.kind} {failure.code}" if failure is not None else None,
            last_refusal_at=self.last_refusal_at,
        )
