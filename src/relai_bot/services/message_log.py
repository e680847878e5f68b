"""The message log: the one module that writes `MessageLog` rows, with one set of rules.

A row is written when a consenting resident's message comes in, or when a message to them is decided (a
turn's reply, a reminder, a broadcast). After that only its delivery is recorded, by whichever channel
or part of the delivery engine learns it, always here:

- A provider's message id is written once, when the provider takes the message (`record_sent`), with the
  SMS encoding and segments. Rows sent inside another row's message are "merged" (0 segments: the
  segments in the log add up to what the provider bills).
- A status never moves back (`moves_forward`): "delivered" then a late "sent" changes nothing, whoever
  reports it (a channel, the outbox, a delivery report).
- Until a provider took the message, a row may say what became of our attempt: "failed" (refused),
  "unknown" (no answer in time: the provider may have it) or "suppressed" (not sent, by choice). That is
  about the attempt, not the message: a provider taking it later (a retry) replaces it, and once a row
  has its provider id it no longer applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from relai_bot.store.models import MessageLog

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
# What became of an attempt the provider did not take
NotSent = Literal["failed", "unknown", "suppressed"]
MERGED = "merged"
ID_CHARS = 80
CODE_CHARS = 16


@dataclass(frozen=True)
class StatusUpdate:
    """What a delivery report did: `found` a row; `changed` its status (False for a duplicate or late report)."""

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


# -- writing rows ---------------------------------------------------------------------------------------
def log_inbound(
    session: Session, *, resident_id: int, channel: str, body: str, now: datetime, message_id: str | None = None
) -> None:
    """A message from a resident; the provider's id (prefixed "in:") keeps it apart from our own."""
    provider_id = f"in:{message_id}"[:ID_CHARS] if message_id else None
    session.add(
        MessageLog(
            resident_id=resident_id,
            channel=channel,
            direction="in",
            body=body,
            created_at=now,
            provider_message_id=provider_id,
        )
    )


def log_outbound(
    session: Session, *, resident_id: int, channel: str, bodies: Sequence[str], now: datetime
) -> list[int]:
    """Messages to a resident, before they are sent; returns their row ids (channels record delivery on them)."""
    rows = [
        MessageLog(resident_id=resident_id, channel=channel, direction="out", body=body, created_at=now)
        for body in bodies
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows if row.id is not None]


# -- recording delivery ---------------------------------------------------------------------------------
def _rows(session: Session, log_ids: Sequence[int]) -> dict[int, MessageLog]:
    if not log_ids:
        return {}
    # Locked (PostgreSQL): a channel and the delivery engine may record the same row at once
    statement = select(MessageLog).where(col(MessageLog.id).in_(list(log_ids))).with_for_update()
    return {row.id: row for row in session.exec(statement) if row.id is not None}


def record_sent(
    session: Session,
    log_ids: Sequence[int],
    *,
    provider_message_id: str,
    status: str,
    encoding: str | None = None,
    segments: int | None = None,
) -> None:
    """The provider took one message standing for these rows; the first row holds its id and cost.

    `status` is what the provider said when it took the message ("sent", "queued", "accepted"…).
    """
    rows = _rows(session, log_ids)
    for index, log_id in enumerate(log_ids):
        row = rows.get(log_id)
        if row is None:
            continue
        if row.provider_message_id is not None:
            # Taken before: its id, encoding and segments stay; the status only moves forward
            if index == 0 and moves_forward(row.status, status):
                row.status = status
                session.add(row)
            continue
        if index == 0:
            row.provider_message_id = provider_message_id[:ID_CHARS]
            row.segments = segments
            row.status = status
        else:
            row.segments = 0
            row.status = MERGED
        row.encoding = encoding
        session.add(row)


def record_not_sent(
    session: Session, log_ids: Sequence[int], *, status: NotSent, error_code: str | None = None
) -> None:
    """The provider did not take the messages of these rows (rows it took are left as they are)."""
    if not log_ids:
        return
    session.execute(
        update(MessageLog)
        .where(
            col(MessageLog.id).in_(list(log_ids)),
            col(MessageLog.provider_message_id).is_(None),
            or_(col(MessageLog.status).is_(None), col(MessageLog.status) != MERGED),
        )
        .values(status=status, error_code=error_code[:CODE_CHARS] if error_code else None)
        .execution_options(synchronize_session=False)
    )


def record_report(
    session: Session, *, channel: str, provider_message_id: str, status: str, error_code: str | None
) -> StatusUpdate:
    """A provider's delivery report on the row holding its message id."""
    row = session.exec(
        select(MessageLog)
        .where(MessageLog.channel == channel, MessageLog.provider_message_id == provider_message_id)
        .with_for_update()
    ).first()
    if row is None:
        return StatusUpdate(found=False, changed=False)
    previous = row.status
    if not moves_forward(previous, status):
        return StatusUpdate(True, False, previous, previous, row.resident_id)
    row.status = status
    if error_code:
        row.error_code = error_code[:CODE_CHARS]
    session.add(row)
    return StatusUpdate(True, True, previous, status, row.resident_id)
