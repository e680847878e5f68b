"""Retention: what is older than the retention period is deleted every night, and counted.

Message-log entries, past appointments, finished outbox rows and broadcasts, closed waitlist entries,
and residents inactive that long (erased as a resident's own erasure does: places they held go back).
"""

from __future__ import annotations

import calendar
from datetime import datetime

from sqlalchemy import delete, exists
from sqlmodel import Session, select

from relai_bot.services import residents
from relai_bot.store.models import Appointment, Broadcast, MessageLog, OutboxMessage, Resident, WaitlistEntry


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the 31st becomes the month's last day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def purge_expired(session: Session, now: datetime, months: int) -> dict[str, int]:
    cutoff = months_before(now, months)
    counts: dict[str, int] = {}

    def run(name: str, statement) -> None:  # type: ignore[no-untyped-def]
        counts[name] = session.execute(statement).rowcount or 0

    inactive = session.exec(
        select(Resident.id).where(
            Resident.last_seen_at < cutoff,
            ~exists().where(
                Appointment.resident_id == Resident.id, Appointment.status == "booked", Appointment.ends_at > now
            ),
        )
    ).all()
    for resident_id in inactive:
        residents.erase_resident(session, resident_id, now)  # type: ignore[arg-type]
    counts["inactive_residents"] = len(inactive)
    run("messages", delete(MessageLog).where(MessageLog.created_at < cutoff))  # type: ignore[arg-type]
    run("appointments", delete(Appointment).where(Appointment.ends_at < cutoff))  # type: ignore[arg-type]
    run(
        "outbox_messages",
        delete(OutboxMessage).where(
            OutboxMessage.updated_at < cutoff,  # type: ignore[arg-type]
            OutboxMessage.status.in_(("sent", "delivered", "failed", "skipped")),  # type: ignore[attr-defined]
        ),
    )
    run(
        "broadcasts",
        delete(Broadcast).where(
            Broadcast.created_at < cutoff,  # type: ignore[arg-type]
            ~exists().where(OutboxMessage.broadcast_id == Broadcast.id),
        ),
    )
    run(
        "waitlist_entries",
        delete(WaitlistEntry).where(
            WaitlistEntry.closed_at < cutoff,  # type: ignore[operator]
            WaitlistEntry.status.in_(("accepted", "expired", "cancelled")),  # type: ignore[attr-defined]
        ),
    )
    return counts
