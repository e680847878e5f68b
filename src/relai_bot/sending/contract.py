"""What a channel reports when it sends: the contract between the delivery engine and the channels.

Channels (channels/) implement `Sender`; services never import a provider's library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from relai_bot.turns import Reply

FailureKind = Literal["retry", "unreachable", "stopped", "invalid"]


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message (it may still fail to be delivered later)."""

    provider_message_id: str | None
    # SMS only: how the text was encoded and how many segments it cost
    encoding: str | None = None
    segments: int | None = None


class SendFailure(Exception):
    """The provider did not accept the message.

    kind: retry (429, 5xx, timeout: try again, after `retry_after` seconds if given);
    unreachable (blocked the bot, deleted account, unknown number); stopped (the person opted out at the
    provider, e.g. Twilio 21610); invalid (our request was wrong: do not retry).

    ambiguous: no answer after the request left (a timeout, a connection lost mid-way): the provider may
    have taken the message, so sending it again may show it twice. Whether that is ever done is the retry
    policy's call (relai_bot.sending.retry), the same for every channel.
    """

    def __init__(
        self,
        kind: FailureKind,
        detail: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after
        self.code = code
        self.ambiguous = ambiguous


class Sender(Protocol):
    """A channel's way of sending one reply to one address (one try of each request; retries are the
    caller's, by the outbox's retry policy).

    `proactive` is True for what the service sends on its own initiative (reminders, broadcasts): an SMS
    channel then uses its one-way sender and words options as "how to answer" rather than "reply 1".

    A channel paces its own requests with its `pacer` (relai_bot.sending.pacing.Pacer), shared with its
    conversation replies; the delivery worker then does not pace them again. A Sender without a `pacer`
    attribute is paced by the worker.
    """

    name: str

    async def send(self, address: str, reply: Reply, *, proactive: bool = False) -> SendResult: ...
