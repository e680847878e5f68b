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
from typing import Any, Literal

from sqlalchemy import insert, or_, update
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
    log_exchange(session, resident_id=resident_id, channel=channel, inbound=Received(body, message_id), now=now)


def log_outbound(
    session: Session, *, resident_id: int, channel: str, bodies: Sequence[str], now: datetime
) -> list[int]:
    """Messages to a resident, before they are sent; returns their row ids (channels record delivery on them)."""
    return log_exchange(session, resident_id=resident_id, channel=channel, bodies=bodies, now=now)


@dataclass(frozen=True)
class Received:
    """What a resident sent, as the log keeps it: the text (or "[photo]"…) and the provider's id."""

    body: str
    message_id: str | None = None


def log_exchange(
    session: Session,
    *,
    resident_id: int,
    channel: str,
    now: datetime,
    inbound: Received | None = None,
    bodies: Sequence[str] = (),
) -> list[int]:
    """A turn's rows in one INSERT: the message received (if any) first, then the replies, in that order.
    Returns the replies' row ids, in order (channels record delivery on them)."""
    rows: list[dict[str, Any]] = []
    if inbound is not None:
        provider_id = f"in:{inbound.message_id}"[:ID_CHARS] if inbound.message_id else None
        rows.append(_row(resident_id, channel, "in", inbound.body, now, provider_id))
    rows += [_row(resident_id, channel, "out", body, now, None) for body in bodies]
    if not rows:
        return []
    table = MessageLog.__table__  # type: ignore[attr-defined]
    session.flush()  # the rows go straight to the connection: what they refer to must be written first
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # One statement: SQLite numbers the rows of an INSERT in the order given (the transaction holds the
        # write lock), so the ids in ascending order are the rows' (SQLAlchemy's own sorting would send
        # one INSERT per row here)
        ids = sorted(row_id for (row_id,) in connection.execute(insert(table).returning(table.c.id), rows))
    else:
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = [row_id for (row_id,) in connection.execute(statement, rows)]
    return ids[1:] if inbound is not None else ids


def _row(
    resident_id: int, channel: str, direction: str, body: str, now: datetime, provider_id: str | None
) -> dict[str, Any]:
    return {
        "resident_id": resident_id,
        "channel": channel,
        "direction": direction,
        "body": body,
        "created_at": now,
        "provider_message_id": provider_id,
        "encoding": None,
        "segments": None,
        "status": None,
        "error_code": None,
    }


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
