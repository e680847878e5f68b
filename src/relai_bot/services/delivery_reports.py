"""Delivery reports: what a provider tells us later about a message it accepted.

Provider-neutral: a channel turns its provider's callback into `record_status(...)`. Reports may come
twice or out of order; a message never moves back from a final state ("delivered" then a late "sent"
changes nothing). The delivery engine extends `record_status` to its outbox rows.

Also the failure counter of an address: a few failed deliveries in a row make it unreachable
(broadcasts skip it); a delivery or an inbound message resets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from relai_bot.services import outbox, residents
from relai_bot.store.models import ChannelAddress, MessageLog

# How far along each status is (Twilio's message statuses; other providers map onto them)
_RANK: dict[str, int] = {
    "scheduled": 0,
    "accepted": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "receiving": 4,
    "received": 5,
    "partially_delivered": 5,
    "delivered": 6,
    "undelivered": 6,
    "failed": 6,
    "canceled": 6,
    "read": 7,
}
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "canceled", "read", "received"})
FAILED_STATUSES = frozenset({"undelivered", "failed"})
# Failures in a row after which an address counts as unreachable
UNREACHABLE_AFTER = 3


@dataclass(frozen=True)
class StatusUpdate:
    """What `record_status` did: `found` a row; `changed` its status (False for a duplicate or late report)."""

    found: bool
    changed: bool
    previous: str | None = None
    status: str | None = None
    resident_id: int | None = None


def is_final(status: str | None) -> bool:
    return status in FINAL_STATUSES


def moves_forward(previous: str | None, new: str) -> bool:
    """True when a report of `new` may replace `previous` (never back from a final state)."""
    if new not in _RANK:
        return False
    if previous is None or previous not in _RANK:
        return True
    if is_final(previous):
        # Only "read" may follow "delivered" (RCS, WhatsApp); a final state is otherwise kept
        return previous == "delivered" and new == "read"
    return _RANK[new] > _RANK[previous]


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
    row = session.exec(
        select(MessageLog).where(MessageLog.channel == channel, MessageLog.provider_message_id == provider_message_id)
    ).first()
    if row is None:
        # A message to an adviser has an outbox row but no message-log row
        return StatusUpdate(found=in_outbox, changed=in_outbox, status=status)
    previous = row.status
    if not moves_forward(previous, status):
        return StatusUpdate(True, False, previous, previous, row.resident_id)
    row.status = status
    if error_code:
        row.error_code = error_code[:16]
    session.add(row)
    return StatusUpdate(True, True, previous, status, row.resident_id)


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
        .where(ChannelAddress.channel == channel, ChannelAddress.address == address)  # type: ignore[arg-type]
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


def record_sent(
    session: Session,
    log_ids: list[int],
    *,
    provider_message_id: str,
    status: str | None,
    encoding: str | None,
    segments: int | None,
) -> None:
    """The provider took a message carrying these log rows (the first holds its id and the cost).

    Several replies sent as one message: the other rows are marked "merged" (0 segments), so the sum of
    segments in the log is what the provider bills.
    """
    for index, log_id in enumerate(log_ids):
        row = session.get(MessageLog, log_id)
        if row is None:
            continue
        row.encoding = encoding
        if index == 0:
            row.provider_message_id = provider_message_id
            row.segments = segments
            if moves_forward(row.status, status or "queued"):
                row.status = status or "queued"
        else:
            row.segments = 0
            row.status = "merged"
        session.add(row)


def record_not_sent(session: Session, log_ids: list[int], *, status: str, error_code: str | None = None) -> None:
    """These log rows were not sent: "failed" (refused), "unknown" (no answer) or "suppressed" (by choice)."""
    for log_id in log_ids:
        row = session.get(MessageLog, log_id)
        if row is not None and not is_final(row.status):
            row.status = status
            row.error_code = error_code[:16] if error_code else None
            session.add(row)
