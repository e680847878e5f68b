"""What the Telegram channel reads and writes in the database itself (each function runs in a thread).

The conversation state belongs to the engine; here the channel only peeks at where a chat stands (to
route a shared contact or location), records what Telegram did with a reply, and keeps a few markers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete
from sqlmodel import Session, select

from relai_bot.services import dedup, geo, linking, message_log, residents
from relai_bot.services.message_log import NotSent
from relai_bot.store.models import ChannelAddress, Conversation, District, MessageLog, Venue
from relai_bot.wiring import Runtime

CHANNEL = "telegram"
T = TypeVar("T")


async def call(runtime: Runtime, work: Callable[..., T], *args: Any) -> T:
    """Run `work(session, *args)` in one transaction, in a worker thread (the event loop stays free)."""

    def run() -> T:
        with runtime.db.transaction() as session:
            return work(session, *args)

    return await asyncio.to_thread(run)


@dataclass(frozen=True)
class Standing:
    """Where a chat stands: its resident (if they consented) and its conversation step."""

    resident_id: int | None
    stopped: bool
    flow: str | None
    step: str | None
    turn: int
    options: list[dict[str, Any]]
    has_phone: bool

    def option_with_key(self, key: str) -> str | None:
        """The id of the current option with this key (as the engine issued it), if offered."""
        for option in self.options:
            if option.get("key") == key:
                return f"{self.turn}.{option['n']}"
        return None


def standing(session: Session, address: str) -> Standing:
    resident = residents.find_by_address(session, CHANNEL, address)
    conversation = session.exec(
        select(Conversation).where(Conversation.channel == CHANNEL, Conversation.address == address)
    ).first()
    has_phone = False
    if resident is not None:
        has_phone = (
            session.exec(
                select(ChannelAddress).where(
                    ChannelAddress.resident_id == resident.id, ChannelAddress.channel == linking.SMS
                )
            ).first()
            is not None
        )
    return Standing(
        resident_id=resident.id if resident else None,
        stopped=bool(resident and resident.stopped_at),
        flow=conversation.flow if conversation else None,
        step=conversation.step if conversation else None,
        turn=conversation.turn if conversation else 0,
        options=list(conversation.options) if conversation else [],
        has_phone=has_phone,
    )


def record_sent(session: Session, sent: list[tuple[int, str]]) -> None:
    """Put Telegram's message id ("chat:message") on the message-log rows of the replies it accepted."""
    for log_id, provider_id in sent:
        message_log.record_sent(session, [log_id], provider_message_id=provider_id, status="sent")


def record_not_sent(session: Session, log_ids: list[int], status: NotSent, code: str | None) -> None:
    """Replies that did not reach the resident: "failed" (refused) or "unknown" (no answer in time)."""
    message_log.record_not_sent(session, log_ids, status=status, error_code=code)


def forget_unsent(session: Session, log_ids: list[int]) -> None:
    """Replies the engine wrote that the channel decided not to show (a step passed through)."""
    if log_ids:
        session.execute(delete(MessageLog).where(MessageLog.id.in_(log_ids)))  # type: ignore[union-attr]


def mark_unreachable(session: Session, address: str, now: datetime) -> None:
    residents.mark_unreachable(session, CHANNEL, address, now)


def mark_reachable(session: Session, address: str) -> None:
    residents.mark_reachable(session, CHANNEL, address)


def first_time(session: Session, marker: str, now: datetime) -> bool:
    """True the first time a marker is seen (kept with the processed-message ids, so for all instances,
    until the scheduler purges them: 48 hours)."""
    return dedup.first_time(session, CHANNEL, marker, now)


@dataclass(frozen=True)
class Nearby:
    district: str | None
    district_km: float | None
    venue: str | None
    venue_address: str | None
    venue_km: float | None


def nearby(session: Session, lat: float, lon: float) -> Nearby:
    """The district and the meeting place nearest to a point (venues where advisers receive people)."""
    district = geo.nearest(lat, lon, session.exec(select(District)).all())
    venues = [v for v in session.exec(select(Venue)).all() if not v.remote]
    venue = geo.nearest(lat, lon, venues)
    return Nearby(
        district=district[0].name if district else None,
        district_km=round(district[1], 1) if district else None,
        venue=venue[0].name if venue else None,
        venue_address=venue[0].address if venue else None,
        venue_km=round(venue[1], 1) if venue else None,
    )


def link_phone(session: Session, resident_id: int, phone: str, now: datetime) -> linking.LinkResult:
    return linking.link_phone(session, resident_id, phone, now)
