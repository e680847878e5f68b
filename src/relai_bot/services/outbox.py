"""The outbox: what the service sends on its own initiative, one row per recipient and message.

Enqueueing is idempotent (a unique key per message and recipient). An outbox worker *claims* due rows: it
sets them to "sending" with a lease (`claimed_by`, `claimed_until`) in one transaction — on PostgreSQL
with `SELECT … FOR UPDATE SKIP LOCKED`, so that several workers never take the same row; on SQLite
the transaction holds the write lock (BEGIN IMMEDIATE), which serialises claims. A row whose lease ran
out (its worker died) can be claimed again: only messages in flight at a crash may go twice. A row
the provider accepted ("sent") is final and never sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from relai_bot.store.db import insert_new
from relai_bot.store.models import ChannelAddress, OutboxMessage
from relai_bot.store.models.delivery import PRIORITIES
from relai_bot.turns import SIMULATED_CHANNELS

# Channels the outbox delivers to, in order of preference (Telegram is free and has buttons); the
# simulator's channels last (only test residents have addresses there)
CHANNEL_PREFERENCE = ("telegram", "sms", *SIMULATED_CHANNELS)
FINAL_STATUSES = frozenset({"sent", "delivered", "failed", "skipped"})
_INSERT_CHUNK = 500


@dataclass(frozen=True)
class Address:
    channel: str
    address: str
    reachable: bool


def addresses_of(session: Session, resident_ids: Iterable[int]) -> dict[int, list[Address]]:
    """Each resident's deliverable addresses, reachable ones first, in channel preference order."""
    ids = list(set(resident_ids))
    found: dict[int, list[Address]] = {i: [] for i in ids}
    for start in range(0, len(ids), _INSERT_CHUNK):
        chunk = ids[start : start + _INSERT_CHUNK]
        rows = session.exec(
            select(
                ChannelAddress.resident_id,
                ChannelAddress.channel,
                ChannelAddress.address,
                ChannelAddress.unreachable_at,
            ).where(
                col(ChannelAddress.resident_id).in_(chunk),
                col(ChannelAddress.channel).in_(CHANNEL_PREFERENCE),
            )
        )
        for resident_id, channel, address, unreachable_at in rows:
            found[resident_id].append(Address(channel, address, unreachable_at is None))
    for addresses in found.values():
        addresses.sort(key=lambda a: (not a.reachable, CHANNEL_PREFERENCE.index(a.channel)))
    return found


def best_address(session: Session, resident_id: int) -> Address | None:
    """Where to write to a resident first (an unreachable address only if there is nothing else)."""
    addresses = addresses_of(session, [resident_id])[resident_id]
    return addresses[0] if addresses else None


def next_address(session: Session, resident_id: int, after_channel: str) -> Address | None:
    """The fallback after a channel failed for good: a reachable address on a later channel."""
    if after_channel not in CHANNEL_PREFERENCE:
        return None
    later = CHANNEL_PREFERENCE[CHANNEL_PREFERENCE.index(after_channel) + 1 :]
    for address in addresses_of(session, [resident_id])[resident_id]:
        if address.reachable and address.channel in later:
            return address
    return None


def message_row(
    *,
    key: str,
    kind: str,
    channel: str,
    address: str,
    now: datetime,
    body: str = "",
    resident_id: int | None = None,
    adviser_id: int | None = None,
    appointment_id: int | None = None,
    broadcast_id: int | None = None,
    target: tuple[str, str, dict[str, Any]] | None = None,
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of one outbox row (for `enqueue_many`)."""
    due = due_at or now
    flow, step, data = target if target else (None, None, {})
    return {
        "key": key[:160],
        "kind": kind,
        "priority": PRIORITIES[kind],
        "resident_id": resident_id,
        "adviser_id": adviser_id,
        "appointment_id": appointment_id,
        "broadcast_id": broadcast_id,
        "channel": channel,
        "address": address,
        "body": body,
        "target_flow": flow,
        "target_step": step,
        "target_data": data,
        "status": "pending",
        "attempts": 0,
        "due_at": due,
        "next_attempt_at": due,
        "expires_at": expires_at,
        "created_at": now,
        "updated_at": now,
    }


def enqueue_many(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows whose key is new; returns how many were new (enqueueing twice is harmless)."""
    created = 0
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = list(rows[start : start + _INSERT_CHUNK])
        statement = insert_new(session, OutboxMessage, chunk, unique=["key"])
        created += len(session.execute(statement.returning(col(OutboxMessage.id))).all())
    return created


def enqueue(session: Session, **fields: Any) -> bool:
    """Enqueue one message (see `message_row`); False when its key was already there."""
    return enqueue_many(session, [message_row(**fields)]) == 1


def claim(
    session: Session, *, channel: str, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[OutboxMessage]:
    """Take up to `limit` due rows of a channel, most urgent first, for `lease`."""
    due = or_(
        and_(col(OutboxMessage.status) == "pending", col(OutboxMessage.next_attempt_at) <= now),
        and_(col(OutboxMessage.status) == "sending", col(OutboxMessage.claimed_until) < now),
    )
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, due)
        .order_by(col(OutboxMessage.priority), col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.exec(statement.execution_options(populate_existing=True)))
    if not rows:
        return []
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_([r.id for r in rows]))
        .values(
            # A row taken back from a dead worker may have been tried: it counts as an attempt
            attempts=case(
                (col(OutboxMessage.status) == "sending", OutboxMessage.attempts + 1), else_=OutboxMessage.attempts
            ),
            status="sending",
            claimed_by=worker,
            claimed_until=now + lease,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    for row in rows:  # what the UPDATE wrote, without reading the rows again
        if row.status == "sending":
            set_committed_value(row, "attempts", row.attempts + 1)
        for name, value in (("status", "sending"), ("claimed_by", worker), ("claimed_until", now + lease)):
            set_committed_value(row, name, value)
    return rows


def _mine(row_id: int) -> ColumnElement[bool]:
    return and_(col(OutboxMessage.id) == row_id, col(OutboxMessage.status) == "sending")


def mark_sent(session: Session, row_id: int, provider_message_id: str | None, now: datetime) -> bool:
    result = session.exec(
        update(OutboxMessage)
        .where(_mine(row_id))
        .values(
            status="sent",
            provider_message_id=provider_message_id[:80] if provider_message_id else None,
            sent_at=now,
            claimed_by=None,
            claimed_until=None,
            replies=None,  # a reply row's text: no longer needed once it went
            updated_at=now,  # an error of an earlier attempt stays, for the record
        )
    )
    return bool(result.rowcount)


def mark_final(
    session: Session, row_id: int, status: str, now: datetime, error: str | None, code: str | None = None
) -> bool:
    """failed or skipped: never tried again."""
    assert status in ("failed", "skipped")
    result = session.exec(
        update(OutboxMessage)
        .where(_mine(row_id))
        .values(
            status=status,
            error=error[:200] if error else None,
            error_code=code[:16] if code else None,
            claimed_by=None,
            claimed_until=None,
            replies=None,
            updated_at=now,
        )
    )
    return bool(result.rowcount)


def take_back(session: Session, now: datetime, gone: Callable[[str], bool]) -> int:
    """Rows still leased to a claimer that is `gone` (a process of this host that died: see
    relai_bot.instance) end their lease now, so the next claim takes them. Returns how many."""
    claimers = session.exec(
        select(OutboxMessage.claimed_by)
        .where(col(OutboxMessage.status) == "sending", col(OutboxMessage.claimed_until) >= now)
        .distinct()
    ).all()
    dead = [claimer for claimer in claimers if claimer is not None and gone(claimer)]
    if not dead:
        return 0
    result = session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == "sending", col(OutboxMessage.claimed_by).in_(dead))
        .values(claimed_until=now - timedelta(seconds=1), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def reschedule(
    session: Session,
    row_id: int,
    at: datetime,
    now: datetime,
    *,
    attempted: bool,
    error: str | None = None,
    code: str | None = None,
) -> bool:
    """Back to pending until `at` (when to retry: relai_bot.sending.retry). A failed try counts an attempt;
    a hold by quiet hours or the provider's "slow down" (429) does not."""
    values: dict[str, Any] = {
        "status": "pending",
        "next_attempt_at": at,
        "claimed_by": None,
        "claimed_until": None,
        "updated_at": now,
    }
    if attempted:
        values["attempts"] = OutboxMessage.attempts + 1
    if error is not None:
        values["error"] = error[:200]
        values["error_code"] = code[:16] if code else None
    result = session.exec(update(OutboxMessage).where(_mine(row_id)).values(**values))
    return bool(result.rowcount)


def move_to(session: Session, row_id: int, channel: str, address: str, now: datetime, error: str | None) -> bool:
    """Send on another channel from now on (the first one failed for good)."""
    result = session.exec(
        update(OutboxMessage)
        .where(_mine(row_id))
        .values(
            status="pending",
            channel=channel,
            address=address,
            attempts=0,
            next_attempt_at=now,
            claimed_by=None,
            claimed_until=None,
            error=error[:200] if error else None,
            updated_at=now,
        )
    )
    return bool(result.rowcount)


def skip_pending(session: Session, now: datetime, reason: str, **where: Any) -> int:
    """Settle every pending row matching `where` (e.g. one broadcast's) as skipped with `reason`; rows being
    sent are left to finish. Returns how many were skipped."""
    statement = update(OutboxMessage).where(col(OutboxMessage.status) == "pending")
    for name, value in where.items():
        statement = statement.where(getattr(OutboxMessage, name) == value)
    result = session.exec(
        statement.values(status="skipped", error=reason[:200], error_code=None, updated_at=now).execution_options(
            synchronize_session=False
        )
    )
    return result.rowcount or 0


def release(session: Session, row_ids: Sequence[int], now: datetime) -> int:
    """Give claimed rows back unsent (a worker stopping cleanly)."""
    if not row_ids:
        return 0
    result = session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(list(row_ids)), col(OutboxMessage.status) == "sending")
        .values(status="pending", claimed_by=None, claimed_until=None, updated_at=now)
    )
    return result.rowcount or 0


def record_report(session: Session, channel: str, provider_message_id: str, status: str, now: datetime) -> bool:
    """A provider's delivery report on a message the outbox sent: sent -> delivered (or failed)."""
    new = {"delivered": "delivered", "read": "delivered", "undelivered": "failed", "failed": "failed"}.get(status)
    if new is None:
        return False
    result = session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.provider_message_id) == provider_message_id,
            col(OutboxMessage.status) == "sent",
        )
        .values(status=new, error=f"report {status}" if new == "failed" else None, updated_at=now)
    )
    return bool(result.rowcount)


def counts(session: Session, **where: Any) -> dict[str, int]:
    """How many rows per status (optionally of one broadcast, kind…)."""
    statement = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    for name, value in where.items():
        statement = statement.where(getattr(OutboxMessage, name) == value)
    return {status: n for status, n in session.exec(statement)}


# -- figures for the operators (/metrics, /readyz) -------------------------------------------------------
@dataclass(frozen=True)
class Backlog:
    """The outbox at a glance: rows by (kind, status); per kind, how long its oldest due row has waited
    (pending, its time come: not one held for quiet hours or a retry); broadcasts with rows still to go."""

    rows: dict[tuple[str, str], int]
    waited: dict[str, float]
    broadcasts_in_flight: int


def backlog(session: Session, now: datetime) -> Backlog:
    """Three grouped queries; read-only."""
    rows = session.exec(
        select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
            OutboxMessage.kind, OutboxMessage.status
        )
    )
    oldest = session.exec(
        select(OutboxMessage.kind, func.min(OutboxMessage.next_attempt_at))
        .where(col(OutboxMessage.status) == "pending", col(OutboxMessage.next_attempt_at) <= now)
        .group_by(OutboxMessage.kind)
    )
    in_flight = session.exec(
        select(func.count(func.distinct(OutboxMessage.broadcast_id))).where(
            col(OutboxMessage.broadcast_id).is_not(None), col(OutboxMessage.status).in_(("pending", "sending"))
        )
    ).one()
    return Backlog(
        rows={(kind, status): n for kind, status, n in rows},
        waited={kind: max(0.0, (now - _aware(due, now)).total_seconds()) for kind, due in oldest if due is not None},
        broadcasts_in_flight=int(in_flight or 0),
    )


def _aware(moment: datetime, like: datetime) -> datetime:
    """func.min() comes back without the column's type on SQLite: naive UTC there."""
    return moment.replace(tzinfo=like.tzinfo) if moment.tzinfo is None and like.tzinfo is not None else moment
