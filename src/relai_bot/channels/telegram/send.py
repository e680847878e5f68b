"""Sending to Telegram: each request paced by the channel's Pacer, retried by a RetryPolicy, errors as
SendFailure.

Pacing (relai_bot.sending.pacing): one Pacer per channel, shared by the conversation replies and the
delivery engine's sends, so that together they stay under Telegram's limits (about 30 messages a second
overall, about one a second per chat after a short burst). Replies are served first.

Retries (relai_bot.sending.retry: `INLINE` for a conversation reply, `ONE_TRY` for the delivery engine,
which retries itself). What each Telegram error means:
- 429 RetryAfter: the chat is paused for `retry_after` seconds (int or timedelta) and the refused
  request does not count; SendFailure("retry", retry_after=...).
- 5xx answers and connection failures *before* the request left (connect or pool timeout, refused
  connection): SendFailure("retry").
- A timeout or a broken connection *after* the request left is ambiguous: Telegram may have taken the
  message. SendFailure("retry", code "timeout", ambiguous=True): no policy resends it inline, so a message
  Telegram accepted is never sent twice within a reply.
- 403 (blocked, deactivated, never started) and 400 "chat not found": SendFailure("unreachable").
- Any other 400: SendFailure("invalid"); our request was wrong and is not repeated.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
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

from relai_bot.channels.base import ProviderWatch
from relai_bot.channels.telegram.render import Outgoing
from relai_bot.sending.contract import SendFailure
from relai_bot.sending.pacing import Pacer
from relai_bot.sending.retry import RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")

# Exceptions (httpx causes of PTB's TimedOut / NetworkError) raised before a request reached Telegram
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_GONE = ("chat not found", "user not found", "peer_id_invalid", "user is deactivated")


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after is an int in PTB 22 (a timedelta with PTB_TIMEDELTA=1, and in PTB 23)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = error.retry_after
    if isinstance(value, timedelta):
        return max(0.0, value.total_seconds())
    return max(0.0, float(value))


def failure_for(error: TelegramError) -> SendFailure:
    """What a Telegram error means for the caller (see the module docstring)."""
    if isinstance(error, RetryAfter):
        return SendFailure("retry", "flood control", retry_after=retry_seconds(error), code="429")
    if isinstance(error, Forbidden):
        return SendFailure("unreachable", error.message, code="403")
    if isinstance(error, BadRequest):
        if any(word in error.message.lower() for word in _GONE):
            return SendFailure("unreachable", error.message, code="400")
        return SendFailure("invalid", error.message, code="400")
    if isinstance(error, ChatMigrated):
        return SendFailure("invalid", f"chat migrated: {error.new_chat_id}", code="migrated")
    if isinstance(error, TimedOut):
        if not isinstance(error.__cause__, _NOT_SENT):
            detail = "no answer in time: Telegram may have taken the message"
            return SendFailure("retry", detail, code="timeout", ambiguous=True)
        return SendFailure("retry", "timed out before sending", code="timeout")
    if isinstance(error, NetworkError):
        cause = error.__cause__
        if cause is not None and not isinstance(cause, (*_NOT_SENT, TelegramError)):
            return SendFailure("retry", f"connection lost: {type(cause).__name__}", code="timeout", ambiguous=True)
        return SendFailure("retry", error.message, code="5xx" if cause is None else "network")
    # InvalidToken, Conflict…: our configuration is wrong
    return SendFailure("invalid", error.message, code=type(error).__name__[:16])


class TelegramSender:
    """Sends one message, paced and retried as the caller's policy says; raises SendFailure."""

    def __init__(
        self,
        bot: Bot,
        pacer: Pacer,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bot = bot
        self.pacer = pacer
        self.watch = ProviderWatch("telegram")
        self._sleep = sleep

    async def send(self, chat_id: int, message: Outgoing, *, policy: RetryPolicy, urgent: bool) -> Message:
        """Send `message`, trying again as `policy` says. `urgent`: a conversation reply (paced first)."""
        tries, waited = 0, 0.0
        while True:
            async with self.pacer.slot(str(chat_id), urgent=urgent) as slot:
                try:
                    sent = await self._post(chat_id, message)
                except TelegramError as error:
                    failure = failure_for(error)
                    self.watch.refused(failure)
                    if failure.retry_after is not None:  # refused unread: the chat waits, the request is free
                        slot.refused(retry_after=failure.retry_after)
                else:
                    self.watch.accepted("200")
                    return sent
            decision = policy.decide(failure, tries, waited=waited)
            if not decision.retry:
                raise failure
            log.info("telegram send retried code=%s in %.1f s (try %d)", failure.code, decision.delay, tries + 1)
            tries, waited = decision.tries, waited + decision.delay
            await self._sleep(decision.delay)

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
