"""Sending to Telegram robustly: pacing under the flood limits, bounded retries, errors as SendFailure.

Pacing: a token bucket per chat (Telegram: about 1 message a second per chat, short bursts pass) and an
even spacing overall (about 30 a second: one message every 1/30 s rather than 30 at once, so that
requests bunched up on the way still arrive within the limit). We aim 10 % under the configured rates,
because Telegram counts when requests arrive, not when we send them.

Retries (at most `attempts` tries of one message):
- 429 RetryAfter: the chat is paused for `retry_after` seconds (int or timedelta), then the message goes
  again, unless the wait is longer than the caller accepts: then SendFailure("retry", retry_after=...).
- 5xx answers and connection failures *before* the request left (connect or pool timeout, refused
  connection): backoff, then again.
- A timeout or a broken connection *after* the request left is ambiguous: Telegram may have taken the
  message. It is never retried here, so a message Telegram accepted is never sent twice by us; it raises
  `UncertainSend` (a SendFailure of kind "retry", code "timeout"): the caller decides.
- 403 (blocked, deactivated, never started) and 400 "chat not found": SendFailure("unreachable").
- Any other 400: SendFailure("invalid"); our request was wrong and is not repeated.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from telegram import Bot, InputFile, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from relai_bot.channels.telegram.render import Outgoing
from relai_bot.sending.contract import SendFailure

log = logging.getLogger(__name__)
T = TypeVar("T")

# Aim this much under the configured rates (Telegram counts at arrival, we count at departure)
MARGIN = 0.9
MAX_BUCKETS = 10_000
# Exceptions (httpx causes of PTB's TimedOut / NetworkError) raised before a request reached Telegram
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_GONE = ("chat not found", "user not found", "peer_id_invalid", "user is deactivated")


class UncertainSend(SendFailure):
    """No answer after the request left: Telegram may have shown the message. Never resent blindly."""

    def __init__(self, detail: str) -> None:
        super().__init__("retry", detail, code="timeout")


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after is an int in PTB 22 (a timedelta with PTB_TIMEDELTA=1, and in PTB 23)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = error.retry_after
    if isinstance(value, timedelta):
        return max(0.0, value.total_seconds())
    return max(0.0, float(value))


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    paused_until: float = 0.0


class Pacer:
    """Waits until one more message to a chat stays under the per-chat and overall limits."""

    def __init__(
        self,
        per_second: float,
        per_chat: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / (per_second * MARGIN)
        self.rate = per_chat * MARGIN
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()

    def _bucket(self, chat_id: int, now: float) -> _Bucket:
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            bucket = self._buckets[chat_id] = _Bucket(self.burst, now)
            while len(self._buckets) > MAX_BUCKETS:  # the oldest chats have long refilled
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(chat_id)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def delay(self, chat_id: int) -> float:
        """Seconds to wait before the next message to this chat (0: it may go now)."""
        now = self._clock()
        bucket = self._bucket(chat_id, now)
        return max(0.0, bucket.paused_until - now, (1.0 - bucket.tokens) / self.rate, self._next_slot - now)

    async def wait(self, chat_id: int) -> None:
        while (wait := self.delay(chat_id)) > 0:
            await self._sleep(wait)
        now = self._clock()
        self._bucket(chat_id, now).tokens -= 1.0
        self._next_slot = max(now, self._next_slot) + self.interval

    def pause(self, chat_id: int, seconds: float) -> None:
        """Telegram said "retry after": nothing more to this chat before then."""
        now = self._clock()
        bucket = self._bucket(chat_id, now)
        bucket.paused_until = max(bucket.paused_until, now + seconds)
        bucket.tokens = min(bucket.tokens, 0.0)


class TelegramSender:
    """Sends one message with pacing and bounded retries; raises SendFailure."""

    def __init__(
        self,
        bot: Bot,
        pacer: Pacer,
        *,
        attempts: int = 3,
        backoff: tuple[float, ...] = (0.5, 2.0),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bot = bot
        self.pacer = pacer
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep

    async def send(self, chat_id: int, message: Outgoing, *, max_wait: float) -> Message:
        """Send `message`; wait at most `max_wait` seconds for a 429 to pass before giving up."""
        failure: SendFailure | None = None
        for attempt in range(1, self.attempts + 1):
            await self.pacer.wait(chat_id)
            try:
                return await self._post(chat_id, message)
            except RetryAfter as error:
                wait = retry_seconds(error)
                self.pacer.pause(chat_id, wait)
                failure = SendFailure("retry", "flood control", retry_after=wait, code="429")
                if wait > max_wait:
                    raise failure from None
                log.info("telegram 429: waiting %.1f s (attempt %d)", wait, attempt)
                continue  # the pacer waits for the pause to end
            except Forbidden as error:
                raise SendFailure("unreachable", error.message, code="403") from None
            except BadRequest as error:
                if any(word in error.message.lower() for word in _GONE):
                    raise SendFailure("unreachable", error.message, code="400") from None
                raise SendFailure("invalid", error.message, code="400") from None
            except ChatMigrated as error:
                raise SendFailure("invalid", f"chat migrated: {error.new_chat_id}", code="migrated") from None
            except TimedOut as error:
                if not isinstance(error.__cause__, _NOT_SENT):
                    raise UncertainSend("no answer in time: Telegram may have taken the message") from None
                failure = SendFailure("retry", "timed out before sending", code="timeout")
            except NetworkError as error:
                cause = error.__cause__
                if cause is not None and not isinstance(cause, (*_NOT_SENT, TelegramError)):
                    raise UncertainSend(f"connection lost: {type(cause).__name__}") from None
                failure = SendFailure("retry", error.message, code="5xx" if cause is None else "network")
            except TelegramError as error:  # InvalidToken, Conflict…: our configuration is wrong
                raise SendFailure("invalid", error.message, code=type(error).__name__[:16]) from None
            if attempt < self.attempts:
                wait = self.backoff[min(attempt, len(self.backoff)) - 1]
                log.info("telegram send retried code=%s attempt=%d", failure.code, attempt)
                await self._sleep(wait)
        assert failure is not None
        raise failure

    async def _post(self, chat_id: int, message: Outgoing) -> Message:
        if message.document is not None:
            document = InputFile(message.document.content, filename=message.document.filename)
            return await self.bot.send_document(chat_id, document)
        assert message.text is not None
        return await self.bot.send_message(
            chat_id,
            message.text,
            parse_mode=ParseMode.HTML,
            reply_markup=message.markup,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


class ChatLanes:
    """One queue of jobs per chat: what is sent to a chat goes out in the order it was submitted."""

    def __init__(self) -> None:
        self._tails: dict[int, asyncio.Task[Any]] = {}

    def submit(self, chat_id: int, job: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        previous = self._tails.get(chat_id)

        async def run() -> T:
            if previous is not None:
                await asyncio.wait([previous])
            return await job()

        task: asyncio.Task[T] = asyncio.create_task(run())
        self._tails[chat_id] = task

        def done(finished: asyncio.Task[T]) -> None:
            if self._tails.get(chat_id) is finished:
                del self._tails[chat_id]
            error = None if finished.cancelled() else finished.exception()
            if error is not None and not isinstance(error, SendFailure):  # a SendFailure goes to its caller
                log.error("telegram send job failed: %s", type(error).__name__, exc_info=error)

        task.add_done_callback(done)
        return task

    @property
    def busy(self) -> int:
        return len(self._tails)

    async def idle(self, timeout: float | None = None) -> bool:
        """Wait until every job submitted so far has finished; False if `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._tails:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(list(self._tails.values()), timeout=remaining)
        return True

    def cancel(self) -> None:
        for task in list(self._tails.values()):
            task.cancel()
