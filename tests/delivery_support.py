"""Helpers for the delivery-engine tests and benchmark (no pytest import: bench/ uses them too).

`PtbSender` is a tiny Sender around the real python-telegram-bot `Bot`, talking to FakeTelegramServer,
while the Telegram channel is being written (it maps Bot API errors as platform.md §1 says).
`CountingSender` is a provider stub that only counts, for races where HTTP would be the bottleneck.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from relai_bot.sending.contract import SendFailure, SendResult
from relai_bot.store.models import ChannelAddress, District, Resident
from relai_bot.turns import Reply
from relai_bot.wiring import Runtime
from tests.fakes.telegram_api import FakeTelegramServer


def _seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PtbSender:
    name = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, address: str, reply: Reply, *, proactive: bool = False) -> SendResult:
        markup = None
        if reply.options:
            rows = [[InlineKeyboardButton(o.label, callback_data=o.id)] for o in reply.options]
            markup = InlineKeyboardMarkup(rows)
        try:
            message = await self.bot.send_message(chat_id=int(address), text=reply.text, reply_markup=markup)
        except RetryAfter as error:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wait = _seconds(error.retry_after)
            raise SendFailure("retry", "flood control", retry_after=wait, code="429") from None
        except Forbidden as error:
            raise SendFailure("unreachable", error.message, code="403") from None
        except BadRequest as error:
            kind = "unreachable" if "chat not found" in error.message.lower() else "invalid"
            raise SendFailure(kind, error.message, code="400") from None
        except TimedOut:
            raise SendFailure("retry", "timed out") from None
        except NetworkError as error:
            raise SendFailure("retry", error.message) from None
        return SendResult(provider_message_id=f"{address}:{message.message_id}")


@asynccontextmanager
async def telegram_sender(**server_options: Any) -> AsyncIterator[tuple[FakeTelegramServer, PtbSender]]:
    async with FakeTelegramServer(**server_options) as srv:
        request = HTTPXRequest(connection_pool_size=32, pool_timeout=30.0, read_timeout=10.0)
        bot = Bot("123:ABC", base_url=srv.base_url, base_file_url=srv.base_file_url, request=request)
        async with bot:
            yield srv, PtbSender(bot)


class CountingSender:
    """A provider stub that accepts everything and counts sends per address (thread-safe)."""

    def __init__(self, name: str = "telegram", *, delay: float = 0.0, fail_every: int = 0) -> None:
        self.name = name
        self.delay = delay
        self.fail_every = fail_every
        self.sent: Counter[str] = Counter()
        self.calls = 0
        self._lock = threading.Lock()

    async def send(self, address: str, reply: Reply, *, proactive: bool = False) -> SendResult:
        with self._lock:
            self.calls += 1
            call = self.calls
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_every and call % self.fail_every == 0:
            raise SendFailure("retry", "server error", code="500")
        with self._lock:
            self.sent[address] += 1
        return SendResult(provider_message_id=f"{self.name}-{call}")


def add_residents(
    session: Session,
    count: int,
    now: datetime,
    *,
    district: str = "saint-laurent",
    channel: str = "telegram",
    first_address: int = 10_000,
    opportunities: bool = True,
) -> list[int]:
    """Residents who consented, each with one address (Telegram chat ids count up from first_address)."""
    district_id = session.exec(select(District.id).where(District.code == district)).one()
    residents = [
        Resident(district_id=district_id, consent_at=now, opportunities=opportunities, last_seen_at=now, created_at=now)
        for _ in range(count)
    ]
    session.add_all(residents)
    session.flush()
    session.add_all(
        ChannelAddress(resident_id=r.id, channel=channel, address=str(first_address + i), created_at=now)
        for i, r in enumerate(residents)
    )
    session.flush()
    return [r.id for r in residents if r.id is not None]


def add_address(runtime: Runtime, resident_id: int, channel: str, address: str) -> None:
    with runtime.db.transaction() as session:
        session.add(
            ChannelAddress(resident_id=resident_id, channel=channel, address=address, created_at=runtime.clock.now())
        )


def sent_texts(srv: FakeTelegramServer, chat_id: int) -> list[str]:
    return [c.text or "" for c in srv.sent_messages(chat_id) if c.ok]


def buttons(srv: FakeTelegramServer, chat_id: int) -> list[tuple[str, str]]:
    """(label, callback_data) of the last message sent to a chat."""
    calls = [c for c in srv.sent_messages(chat_id) if c.ok]
    markup = calls[-1].params.get("reply_markup") or {}
    if isinstance(markup, str):
        import json

        markup = json.loads(markup)
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


def statuses(runtime: Runtime, ids: Iterable[int] | None = None) -> Counter[str]:
    from relai_bot.store.models import OutboxMessage

    with runtime.db.transaction() as session:
        statement = select(OutboxMessage.status)
        if ids is not None:
            statement = statement.where(OutboxMessage.id.in_(list(ids)))  # type: ignore[union-attr]
        return Counter(session.exec(statement))
