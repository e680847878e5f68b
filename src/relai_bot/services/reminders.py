"""Appointment reminders: when they are due, which ones to enqueue, whether one is still worth sending.

Reminders are computed from the appointments table by a scheduler tick (no coupling with the booking
code, and nothing is lost across restarts): every booked appointment gets one outbox row per offset,
with an idempotent key. Just before a reminder goes, it is checked again: still booked, not too late,
and no later reminder of the same appointment already due (after a downtime only the latest goes).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from relai_bot.entry_points import REMINDER
from relai_bot.services import outbox
from relai_bot.services.errors import AppointmentNotActive, NotFound
from relai_bot.services.residents import real_residents
from relai_bot.store.models import Appointment, OutboxMessage, Resident, Slot, id_of
from relai_bot.time_settings import ReminderOffset

# A reminder is of no use once the appointment is this close (the resident could not get there)
USEFUL_UNTIL_BEFORE = timedelta(minutes=30)


def reminder_key(appointment_id: int, offset: ReminderOffset) -> str:
    return f"reminder:{appointment_id}:{offset.label}"


def schedule_reminders(session: Session, now: datetime, tz: ZoneInfo, offsets: list[ReminderOffset]) -> int:
    """Enqueue the reminders of every upcoming booked appointment (idempotent). Returns how many are new.

    No reminder is made for a moment before the booking (a booking at 19:00 for tomorrow morning gets no
    "day before at 18:00"); a reminder whose moment passed during a downtime is made, and the check
    before sending decides whether it is still useful.
    """
    if not offsets:
        return 0
    horizon = max(timedelta(days=o.days + 1) if o.before is None else o.before for o in offsets)
    appointments = session.exec(
        select(Appointment)
        .join(Resident, col(Resident.id) == Appointment.resident_id)
        .where(
            real_residents(),  # a test resident of the simulator gets no reminder
            Appointment.status == "booked",
            Appointment.starts_at > now + USEFUL_UNTIL_BEFORE,
            Appointment.starts_at <= now + horizon + timedelta(days=1),
        )
    ).all()
    if not appointments:
        return 0
    addresses = outbox.addresses_of(session, [a.resident_id for a in appointments])
    rows = []
    for appointment in appointments:
        choices = addresses.get(appointment.resident_id) or []
        if not choices:
            continue  # only a terminal address: nothing can carry a reminder
        for offset in offsets:
            due = offset.due(appointment.starts_at, tz)
            if due < appointment.booked_at:
                continue
            rows.append(
                outbox.message_row(
                    key=reminder_key(id_of(appointment), offset),
                    kind="reminder",
                    channel=choices[0].channel,
                    address=choices[0].address,
                    now=now,
                    resident_id=appointment.resident_id,
                    appointment_id=appointment.id,
                    target=REMINDER.target(appointment_id=appointment.id),
                    due_at=due,
                    expires_at=appointment.starts_at - USEFUL_UNTIL_BEFORE,
                )
            )
    return outbox.enqueue_many(session, rows)


def skip_reason(session: Session, row: OutboxMessage, now: datetime) -> str | None:
    """Why a reminder about to go is of no use any more (None: send it)."""
    appointment = session.get(Appointment, row.appointment_id) if row.appointment_id else None
    if appointment is None:
        return "appointment_gone"
    if appointment.status != "booked":
        return f"appointment_{appointment.status}"
    if appointment.starts_at - USEFUL_UNTIL_BEFORE <= now:
        return "too_late"
    later_due = session.exec(
        select(func.count()).where(
            OutboxMessage.appointment_id == appointment.id,
            OutboxMessage.kind == "reminder",
            OutboxMessage.id != row.id,
            OutboxMessage.due_at > row.due_at,
            OutboxMessage.due_at <= now,
        )
    ).one()
    if later_due:
        return "superseded"
    return None


def adviser_of(session: Session, appointment_id: int) -> int | None:
    row = session.exec(
        select(Slot.adviser_id)
        .join(Appointment, col(Appointment.slot_id) == Slot.id)
        .where(Appointment.id == appointment_id)
    ).first()
    return row


def confirm_appointment(session: Session, *, appointment_id: int, resident_id: int, now: datetime) -> Appointment:
    """The resident answered "je confirme": advisers see it in their agenda and digest."""
    appointment = session.get(Appointment, appointment_id, populate_existing=True)
    if appointment is None or appointment.resident_id != resident_id:
        raise NotFound(f"appointment {appointment_id}")
    if appointment.status != "booked" or appointment.ends_at <= now:
        raise AppointmentNotActive()
    if appointment.confirmed_at is None:
        session.execute(
            update(Appointment)
            .where(col(Appointment.id) == appointment_id, col(Appointment.confirmed_at).is_(None))
            .values(confirmed_at=now, status_changed_at=now)
        )
        session.refresh(appointment)
    return appointment
