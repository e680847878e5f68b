"""Delivery reports: what a provider tells us later about a message it accepted.

Provider-neutral: a channel turns its provider's callback into `record_status(...)`. Reports may come
twice or out of order; the message log's rules (services.message_log) keep a status from moving back
("delivered" then a late "sent" changes nothing). The delivery engine extends `record_status` to its
outbox rows.

Also the failure counter of an address: a few failed deliveries in a row make it unreachable
(broadcasts skip it); a delivery or an inbound message resets it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from relai_bot.services import message_log, outbox, residents
from relai_bot.services.message_log import StatusUpdate
from relai_bot.store.models import ChannelAddress

FAILED_STATUSES = frozenset({"undelivered", "failed"})
# Failures in a row after which an address counts as unreachable
UNREACHABLE_AFTER = 3


def record_status(
    session: Session,
    *,
    channel: str,
    provider_message_id: str,
    status: str,
    error_code: str | None,
    now: datetime,
) -> StatusUpdate:
    """Record a delivery report on the outbox row and on the message-log row holding the provider's id."""
    in_outbox = outbox.record_report(session, channel, provider_message_id, status, now)
    logged = message_log.record_report(
        session, channel=channel, provider_message_id=provider_message_id, status=status, error_code=error_code
    )
    if not logged.found:
        # A message to an adviser has an outbox row but no message-log row
        return StatusUpdate(found=in_outbox, changed=in_outbox, status=status)
    return logged


def _address(session: Session, channel: str, address: str) -> ChannelAddress | None:
    return session.exec(
        select(ChannelAddress).where(ChannelAddress.channel == channel, ChannelAddress.address == address)
    ).first()


def note_delivery_failure(
    session: Session, channel: str, address: str, now: datetime, *, limit: int = UNREACHABLE_AFTER
) -> bool:
    """One more failed delivery to this address; True when it is (now) unreachable."""
    session.execute(
        update(ChannelAddress)
        .where(col(ChannelAddress.channel) == channel, col(ChannelAddress.address) == address)
        .values(failures=ChannelAddress.failures + 1)
    )
    row = _address(session, channel, address)
    if row is None:
        return False
    session.refresh(row)
    if row.failures >= limit:
        residents.mark_unreachable(session, channel, address, now)
        return True
    return False


def note_delivery_success(session: Session, channel: str, address: str) -> None:
    """A message reached the address: the failures in a row start again from zero."""
    residents.mark_reachable(session, channel, address)
