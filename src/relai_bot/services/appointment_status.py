"""What the service (an adviser, staff, an absence) does to an appointment: set its status, note it, cancel
or move it, and tell the resident. The one owner of which status may follow which.

Statuses (store.models.APPOINTMENT_STATUSES), as rdv-insertion and RDV Service Public keep them:
- before the appointment starts, a booked one may be cancelled by the service (the resident is told and
  the place goes back, so the waitlist tick offers it) or marked excused (the resident said they cannot
  come: the place goes back, nothing is sent);
- once it has started, it is attended (seen), no_show or excused, and that status may be corrected among
  the three (a no-show marked by mistake): the place is not given back, the time is gone;
- cancelled (by the resident) and service_cancelled are final.
A no-show gets a kind follow-up offering new slots the next local morning (not on a Sunday or a public
holiday), within the quiet hours; correcting the status skips it. Residents are told through outbox rows
of kind "notice" that put their conversation at a step of conversations/appointment_notice.yaml.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from relai_bot.entry_points import NOTICE_MOVED, NOTICE_NO_SHOW, NOTICE_SERVICE_CANCELLED, EntryPoint
from relai_bot.services import audit, booking, outbox, quiet_hours
from relai_bot.services.errors import AppointmentNotActive, DomainError, NotFound
from relai_bot.store.models import Appointment, OutboxMessage, id_of

BEFORE_START = ("service_cancelled", "excused")
AFTER_START = ("attended", "no_show", "excused")
FINAL = frozenset({"cancelled", "service_cancelled"})
NOTE_MAX = 2000
# A no-show marked later than this after the appointment gets no follow-up (it would come out of the blue)
FOLLOW_UP_WITHIN = timedelta(days=7)
# A follow-up not sent by then (a long outage) is of no use any more
FOLLOW_UP_USEFUL_FOR = timedelta(days=2)

STATUS_CHANGED = audit.APPOINTMENT_STATUS_CHANGED
NOTE_CHANGED = audit.APPOINTMENT_NOTE_CHANGED
MOVED = audit.APPOINTMENT_MOVED


class StatusNotAllowed(DomainError):
    """This status cannot follow the appointment's current one (or not at this moment)."""


class NoteTooLong(DomainError):
    """A note is 2,000 characters at most."""


def allowed_statuses(appointment: Appointment, now: datetime) -> tuple[str, ...]:
    """The statuses staff may give this appointment now (none for a cancelled one)."""
    if appointment.status in FINAL:
        return ()
    if appointment.starts_at > now:
        return BEFORE_START if appointment.status == "booked" else ()
    return tuple(s for s in AFTER_START if s != appointment.status)


def _load(session: Session, appointment_id: int) -> Appointment:
    appointment = session.get(Appointment, appointment_id, populate_existing=True)
    if appointment is None:
        raise NotFound(f"appointment {appointment_id}")
    return appointment


def set_status(
    session: Session,
    *,
    appointment_id: int,
    status: str,
    actor_id: int | None,
    now: datetime,
    tz: ZoneInfo,
    follow_up_at: time | None,
) -> Appointment:
    """Give an appointment a status (see the module's rules); the resident is told where the rules say."""
    appointment = _load(session, appointment_id)
    if status not in allowed_statuses(appointment, now):
        raise StatusNotAllowed(f"{appointment.status} -> {status}")
    before = appointment.status
    future = appointment.starts_at > now
    # Written as one conditional UPDATE: two advisers clicking at once cannot both free the place
    changed = session.exec(
        update(Appointment)
        .where(col(Appointment.id) == appointment_id, col(Appointment.status) == before)
        .values(
            status=status,
            status_changed_at=now,
            status_set_by_id=actor_id,
            cancelled_at=now if status == "service_cancelled" else Appointment.cancelled_at,
        )
    )
    if changed.rowcount != 1:
        raise StatusNotAllowed(f"{before} changed meanwhile")
    if future:  # the place goes back; the waitlist tick offers it to the first in line
        booking.release_place(session, appointment.slot_id)
    if before == "no_show":
        outbox.skip_pending(session, now, "status_corrected", kind="notice", appointment_id=appointment_id)
    session.refresh(appointment)
    if status == "service_cancelled":
        _tell(session, appointment, NOTICE_SERVICE_CANCELLED, now, due_at=now)
    elif status == "no_show" and follow_up_at is not None and now - appointment.ends_at <= FOLLOW_UP_WITHIN:
        due = next_morning(now, tz, follow_up_at)
        _tell(session, appointment, NOTICE_NO_SHOW, now, due_at=due, expires_at=due + FOLLOW_UP_USEFUL_FOR)
    audit.record(
        session, actor_id, STATUS_CHANGED, f"appointment:{appointment_id}", {"from": before, "to": status}, at=now
    )
    return appointment


def next_morning(now: datetime, tz: ZoneInfo, at: time) -> datetime:
    """The next local day at `at` that is not a Sunday nor a public holiday (as UTC)."""
    day = now.astimezone(tz).date() + timedelta(days=1)
    while quiet_hours.is_rest_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, at, tzinfo=tz).astimezone(now.tzinfo)


def set_note(session: Session, *, appointment_id: int, note: str, actor_id: int | None, now: datetime) -> Appointment:
    """The adviser's free note about the appointment (empty: no note). Kept as the appointment is."""
    appointment = _load(session, appointment_id)
    text = note.strip().replace("\r\n", "\n")
    if len(text) > NOTE_MAX:
        raise NoteTooLong(str(len(text)))
    if (appointment.adviser_note or "") == text:
        return appointment
    appointment.adviser_note = text or None
    appointment.note_updated_at = now
    session.add(appointment)
    session.flush()
    # The note's text stays out of the audit log (it may speak of the person): its length only
    audit.record(session, actor_id, NOTE_CHANGED, f"appointment:{appointment_id}", {"length": len(text)}, at=now)
    return appointment


def move_by_service(
    session: Session, *, appointment_id: int, new_slot_id: int, actor_id: int | None, now: datetime
) -> Appointment:
    """Move a booked appointment to another slot (an adviser's absence): the new place is taken first, the
    old appointment becomes service_cancelled, and the resident is told of the new time."""
    old = _load(session, appointment_id)
    if old.status != "booked" or old.starts_at <= now:
        raise AppointmentNotActive()
    moved = booking.move_appointment(
        session, appointment_id=appointment_id, resident_id=old.resident_id, new_slot_id=new_slot_id, now=now
    )
    session.exec(
        update(Appointment)
        .where(col(Appointment.id) == appointment_id)
        .values(status="service_cancelled", status_set_by_id=actor_id)
    )
    moved.adviser_note = old.adviser_note
    session.add(moved)
    session.flush()
    _tell(session, moved, NOTICE_MOVED, now, due_at=now, key=f"notice:moved:{appointment_id}:{moved.id}")
    audit.record(session, actor_id, MOVED, f"appointment:{appointment_id}", {"to_appointment": moved.id}, at=now)
    return moved


def _tell(
    session: Session,
    appointment: Appointment,
    entry: EntryPoint,
    now: datetime,
    *,
    due_at: datetime,
    expires_at: datetime | None = None,
    key: str | None = None,
) -> bool:
    """Enqueue the message that tells the resident (False when they have no address that carries one)."""
    address = outbox.best_address(session, appointment.resident_id)
    if address is None:
        return False
    return outbox.enqueue(
        session,
        key=key or f"notice:{entry.step}:{appointment.id}",
        kind="notice",
        channel=address.channel,
        address=address.address,
        now=now,
        resident_id=appointment.resident_id,
        appointment_id=appointment.id,
        target=entry.target(appointment_id=id_of(appointment)),
        due_at=due_at,
        expires_at=expires_at,
    )


def notice_skip_reason(session: Session, row: OutboxMessage, now: datetime) -> str | None:
    """Why a notice about to go is of no use any more (None: send it)."""
    appointment = session.get(Appointment, row.appointment_id) if row.appointment_id else None
    if appointment is None:
        return "appointment_gone"
    if row.target_step == NOTICE_NO_SHOW.step:
        if appointment.status != "no_show":
            return "status_corrected"
        rebooked = session.exec(
            select(func.count()).where(
                Appointment.resident_id == appointment.resident_id,
                Appointment.status == "booked",
                Appointment.booked_at > appointment.starts_at,
                Appointment.starts_at > now,
            )
        ).one()
        if rebooked:
            return "already_rebooked"
    elif row.target_step == NOTICE_MOVED.step and (appointment.status != "booked" or appointment.starts_at <= now):
        return "appointment_changed"
    return None
