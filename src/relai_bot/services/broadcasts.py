"""Broadcasts: staff write to the residents of some districts who said yes to opportunities.

A staff action is a service function: the CLI (`relai-bot broadcast`) calls it today, the back-office
will call the same. It only enqueues (one outbox row per resident, idempotent); a running outbox worker
delivers within quiet hours, the weekly cap and the providers' limits.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from relai_bot.services import outbox, residents
from relai_bot.services.errors import NotFound
from relai_bot.store.models import Broadcast, District, OutboxMessage, Resident

MAX_TEXT = 1000
WEEK = timedelta(days=7)


def resolve_districts(session: Session, names: list[str]) -> list[District]:
    """Districts by code or by name (accents, case and small typos forgiven); NotFound names the first unknown."""
    found: list[District] = []
    for name in names:
        district = session.exec(select(District).where(District.code == name.strip().lower())).first()
        district = district or residents.match_district(session, name)
        if district is None:
            raise NotFound(f"district {name!r}")
        if district not in found:
            found.append(district)
    return found


def broadcasts_in_week(
    session: Session, resident_ids: list[int], now: datetime, *, before_row: int | None = None
) -> Counter[int]:
    """The weekly cap's count, the one rule used when a broadcast is enqueued and again when it goes.

    A resident's broadcasts "this week" are those they received or are about to receive: rows sent (or
    delivered) in the 7 days before `now`, counted by when they went out, plus rows still waiting to go
    (pending or being sent), whatever their age, since they will reach the resident now. Skipped and
    failed rows reached nobody and do not count. When a row is checked just before it goes
    (`before_row`), only the rows enqueued before it count, so that of several broadcasts queued at once
    the first ones go and the later ones are skipped. Counting by sending time rather than by enqueueing
    time is what the resident experiences: a broadcast held for the weekend counts in the week it arrives.
    """
    waiting: ColumnElement[bool] = col(OutboxMessage.status).in_(("pending", "sending"))
    if before_row is not None:
        waiting = waiting & (col(OutboxMessage.id) < before_row)
    received = col(OutboxMessage.status).in_(("sent", "delivered")) & (col(OutboxMessage.sent_at) > now - WEEK)
    counts: Counter[int] = Counter()
    for start in range(0, len(resident_ids), 500):
        chunk = resident_ids[start : start + 500]
        rows = session.exec(
            select(OutboxMessage.resident_id, func.count())
            .where(
                OutboxMessage.kind == "broadcast",
                col(OutboxMessage.resident_id).in_(chunk),
                or_(waiting, received),
            )
            .group_by(col(OutboxMessage.resident_id))
        )
        counts.update({resident_id: n for resident_id, n in rows if resident_id is not None})
    return counts


def over_weekly_cap(session: Session, row: OutboxMessage, now: datetime, per_week: int) -> bool:
    """Would sending this broadcast row now give its resident more than `per_week` in 7 days?"""
    assert row.resident_id is not None and row.id is not None
    return broadcasts_in_week(session, [row.resident_id], now, before_row=row.id)[row.resident_id] >= per_week


def create_broadcast(
    session: Session, *, districts: list[str], text: str, created_by: str, now: datetime, per_week: int
) -> Broadcast:
    """Enqueue `text` for the residents of `districts` who may receive it; counts who was left out and why."""
    text = text.strip()
    if not text:
        raise ValueError("the text is empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"the text is {len(text)} characters long; {MAX_TEXT} at most")
    chosen = resolve_districts(session, districts)
    broadcast = Broadcast(text=text, districts=[d.code for d in chosen], created_by=created_by[:64], created_at=now)
    session.add(broadcast)
    session.flush()
    people = list(session.exec(select(Resident).where(col(Resident.district_id).in_([d.id for d in chosen]))))
    excluded: Counter[str] = Counter()
    eligible: list[Resident] = []
    for resident in people:
        if not resident.opportunities:
            excluded["no_opportunities"] += 1
        elif resident.stopped_at is not None:
            excluded["stopped"] += 1
        elif resident.unreachable_at is not None:
            excluded["unreachable"] += 1
        else:
            eligible.append(resident)
    ids = [r.id for r in eligible if r.id is not None]
    addresses = outbox.addresses_of(session, ids)
    recent = broadcasts_in_week(session, ids, now)
    rows = []
    for resident_id in ids:
        reachable = [a for a in addresses[resident_id] if a.reachable]
        if not reachable:
            excluded["no_channel"] += 1
        elif recent[resident_id] >= per_week:
            excluded["weekly_cap"] += 1
        else:
            rows.append(
                outbox.message_row(
                    key=f"broadcast:{broadcast.id}:{resident_id}",
                    kind="broadcast",
                    channel=reachable[0].channel,
                    address=reachable[0].address,
                    now=now,
                    body=text,
                    resident_id=resident_id,
                    broadcast_id=broadcast.id,
                )
            )
    broadcast.recipients = outbox.enqueue_many(session, rows)
    broadcast.excluded = dict(sorted(excluded.items()))
    session.add(broadcast)
    session.flush()
    return broadcast


def broadcast_report(session: Session, broadcast_id: int) -> dict[str, int]:
    """Where a broadcast stands: rows per status (pending, sending, sent, delivered, failed, skipped)."""
    if session.get(Broadcast, broadcast_id) is None:
        raise NotFound(f"broadcast {broadcast_id}")
    return outbox.counts(session, broadcast_id=broadcast_id)
