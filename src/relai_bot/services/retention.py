"""Retention: what is older than the retention period is deleted every night, and counted.

Message-log entries, past appointments, finished outbox rows and broadcasts, closed waitlist entries,
scheme events (the dashboard's funnel), and residents inactive that long (erased as a resident's own erasure
does: places they held go back).
"""

from __future__ import annotations

import calendar
from datetime import datetime

from sqlalchemy import Delete, delete, exists
from sqlmodel import Session, col, select

from relai_bot.services import residents
from relai_bot.store.models import (
    Appointment,
    Broadcast,
    MessageLog,
    OutboxMessage,
    Resident,
    SchemeEvent,
    WaitlistEntry,
)


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the 31st becomes the month's last day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def purge_expired(session: Session, now: datetime, months: int) -> dict[str, int]:
    cutoff = months_before(now, months)
    counts: dict[str, int] = {}

    def run(name: str, statement: Delete) -> None:
        counts[name] = session.exec(statement).rowcount or 0

    inactive = session.exec(
        select(Resident.id).where(
            Resident.last_seen_at < cutoff,
            ~exists().where(
                col(Appointment.resident_id) == Resident.id,
                col(Appointment.status) == "booked",
                col(Appointment.ends_at) > now,
            ),
        )
    ).all()
    for resident_id in inactive:
        assert resident_id is not None  # a primary key read from the table
        residents.erase_resident(session, resident_id, now)
    counts["inactive_residents"] = len(inactive)
    run("messages", delete(MessageLog).where(col(MessageLog.created_at) < cutoff))
    run("appointments", delete(Appointment).where(col(Appointment.ends_at) < cutoff))
    run(
        "outbox_messages",
        delete(OutboxMessage).where(
            col(OutboxMessage.updated_at) < cutoff,
            col(OutboxMessage.status).in_(("sent", "delivered", "failed", "skipped")),
        ),
    )
    run(
        "broadcasts",
        delete(Broadcast).where(
            col(Broadcast.created_at) < cutoff,
            ~exists().where(col(OutboxMessage.broadcast_id) == Broadcast.id),
        ),
    )
    run(
        "waitlist_entries",
        delete(WaitlistEntry).where(
            col(WaitlistEntry.closed_at) < cutoff,
            col(WaitlistEntry.status).in_(("accepted", "expired", "cancelled")),
        ),
    )
    run("scheme_events", delete(SchemeEvent).where(col(SchemeEvent.created_at) < cutoff))
    return counts
