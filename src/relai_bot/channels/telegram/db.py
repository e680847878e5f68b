"""What the Telegram channel reads and writes in the database itself (each function runs in a thread).

The conversation belongs to the engine; here the channel records what Telegram did with a reply, marks
addresses unreachable (or reachable again), and keeps a few markers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session

from relai_bot.services import dedup, message_log, residents
from relai_bot.services.message_log import NotSent
from relai_bot.wiring import Runtime

CHANNEL = "telegram"
T = TypeVar("T")


async def call(runtime: Runtime, work: Callable[..., T], *args: Any) -> T:
    """Run `work(session, *args)` in one transaction, in a worker thread (the event loop stays free)."""

    def run() -> T:
        with runtime.db.transaction() as session:
            return work(session, *args)

    return await asyncio.to_thread(run)


def is_stopped(session: Session, address: str) -> bool:
    resident = residents.find_by_address(session, CHANNEL, address)
    return resident is not None and resident.stopped_at is not None


def record_sent(session: Session, sent: list[tuple[int, str]]) -> None:
    """Put Telegram's message id ("chat:message") on the message-log rows of the replies it accepted."""
    for log_id, provider_id in sent:
        message_log.record_sent(session, [log_id], provider_message_id=provider_id, status="sent")


def record_not_sent(session: Session, log_ids: list[int], status: NotSent, code: str | None) -> None:
    """Replies that did not reach the resident: "failed" (refused) or "unknown" (no answer in time)."""
    message_log.record_not_sent(session, log_ids, status=status, error_code=code)


def mark_unreachable(session: Session, address: str, now: datetime) -> None:
    residents.mark_unreachable(session, CHANNEL, address, now)


def mark_reachable(session: Session, address: str) -> None:
    residents.mark_reachable(session, CHANNEL, address)


def first_time(session: Session, marker: str, now: datetime) -> bool:
    """True the first time a marker is seen (kept with the processed-message ids, so for all instances,
    until the scheduler purges them: 48 hours)."""
    return dedup.first_time(session, CHANNEL, marker, now)
