"""Advisers' absences (leave, training, illness): no slot is offered then, and each appointment booked then
is moved to the nearest free slot of a compatible time — the adviser's own first, else another adviser of
the same scheme — or, when none is free, cancelled by the service. appointment_status tells each resident.

A compatible slot is in the same half-day (morning or afternoon) as the one it replaces, of the same kind
(an individual appointment or a group session), at a venue of the same kind (in person or by phone), at
least booking.BOOKING_LEAD ahead, and at a time the resident is free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlmodel import Session, col, select

from relai_bot.services import agenda, appointment_status, audit, booking
from relai_bot.services.errors import AlreadyBooked, FieldErrors, NotFound, SlotFull, SlotInPast
from relai_bot.services.openings import parse_date, parse_time
from relai_bot.store.models import Absence, Adviser, Appointment, Slot, Venue, id_of

REASON_MAX = 200
NOON = time(12, 0)


class AbsenceInvalid(FieldErrors):
    """An absence cannot be saved (errors by field)."""


@dataclass(frozen=True)
class AbsenceDraft:
    adviser_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str | None = None


def parse_absence(values: Mapping[str, str], *, tz: ZoneInfo) -> AbsenceDraft:
    """A draft from a form's fields: adviser, start_date and end_date (a whole day when the times are
    empty), start_time, end_time, reason."""
    errors: dict[str, str] = {}
    adviser = values.get("adviser", "").strip()
    if not adviser.isdigit():
        errors["adviser"] = "Choisissez un conseiller dans la liste."
    start_day = parse_date(values.get("start_date", ""))
    if start_day is None:
        errors["start_date"] = "Écrivez le premier jour d'absence sous la forme 17/12/2026."
    end_day = parse_date(values.get("end_date", "")) if values.get("end_date", "").strip() else start_day
    if end_day is None:
        errors["end_date"] = "Écrivez le dernier jour d'absence sous la forme 18/12/2026."
    start_text, end_text = values.get("start_time", "").strip(), values.get("end_time", "").strip()
    start_time = parse_time(start_text) if start_text else time(0, 0)
    if start_time is None:
        errors["start_time"] = "Écrivez l'heure de départ sous la forme 08:30, ou laissez vide pour la journée."
    end_time = parse_time(end_text) if end_text else None
    if end_text and end_time is None:
        errors["end_time"] = "Écrivez l'heure de retour sous la forme 13:30, ou laissez vide pour la journée."
    reason = values.get("reason", "").strip() or None
    if reason is not None and len(reason) > REASON_MAX:
        errors["reason"] = f"Le motif tient en {REASON_MAX} caractères : raccourcissez-le."
    if errors:
        raise AbsenceInvalid(errors)
    assert start_day is not None and end_day is not None and start_time is not None
    starts_at = datetime.combine(start_day, start_time, tzinfo=tz)
    if end_time is None:  # the whole last day
        ends_at = datetime.combine(end_day + timedelta(days=1), time(0, 0), tzinfo=tz)
    else:
        ends_at = datetime.combine(end_day, end_time, tzinfo=tz)
    return AbsenceDraft(int(adviser), starts_at.astimezone(tz), ends_at.astimezone(tz), reason)


def check(session: Session, draft: AbsenceDraft, *, now: datetime) -> None:
    errors: dict[str, str] = {}
    if session.get(Adviser, draft.adviser_id) is None:
        errors["adviser"] = "Ce conseiller n'existe pas ou plus : choisissez-en un dans la liste."
    if draft.ends_at <= draft.starts_at:
        errors["end_date"] = "Le retour doit venir après le départ : vérifiez les dates et les heures."
    elif draft.ends_at <= now:
        errors["end_date"] = "Cette absence est déjà finie : on n'enregistre que les absences en cours ou à venir."
    if draft.reason is not None and len(draft.reason) > REASON_MAX:
        errors["reason"] = f"Le motif tient en {REASON_MAX} caractères : raccourcissez-le."
    if errors:
        raise AbsenceInvalid(errors)


@dataclass(frozen=True)
class Moved:
    appointment_id: int  # the new appointment
    resident_id: int
    starts_at: datetime
    adviser_id: int


@dataclass(frozen=True)
class AbsenceReport:
    absence: Absence
    moved: list[Moved]
    cancelled: list[int]  # the appointments cancelled by the service


def _half_day(moment: datetime, tz: ZoneInfo) -> bool:
    return moment.astimezone(tz).time() < NOON


def _compatible(old: Slot, old_venue: Venue, view: booking.SlotView, tz: ZoneInfo) -> bool:
    return (
        _half_day(view.slot.starts_at, tz) == _half_day(old.starts_at, tz)
        and (view.slot.capacity > 1) == (old.capacity > 1)
        and view.venue.remote == old_venue.remote
    )


def candidates(session: Session, appointment: Appointment, *, now: datetime, tz: ZoneInfo) -> list[booking.SlotView]:
    """Free slots an appointment could move to, best first: the same adviser's, then other advisers' of
    its scheme; each the nearest day first, then the nearest time of day, then the earlier."""
    old = session.get(Slot, appointment.slot_id)
    assert old is not None
    venue = session.get(Venue, old.venue_id)
    assert venue is not None

    was = old.starts_at.astimezone(tz)

    def distance(view: booking.SlotView) -> tuple[int, int, datetime]:
        then = view.slot.starts_at.astimezone(tz)
        minutes = abs((then.hour * 60 + then.minute) - (was.hour * 60 + was.minute))
        return abs((then.date() - was.date()).days), minutes, view.slot.starts_at

    def nearest(views: list[booking.SlotView]) -> list[booking.SlotView]:
        return sorted((v for v in views if v.slot.id != old.id and _compatible(old, venue, v, tz)), key=distance)

    own = nearest(booking.free_slots(session, now, adviser_id=old.adviser_id, limit=1000))
    others: list[booking.SlotView] = []
    if appointment.scheme_id is not None:
        views = booking.free_slots(session, now, scheme_id=appointment.scheme_id, limit=1000)
        others = nearest([v for v in views if v.slot.adviser_id != old.adviser_id])
    return own + others


def _move_or_cancel(
    session: Session,
    appointment: Appointment,
    *,
    actor_id: int | None,
    now: datetime,
    tz: ZoneInfo,
    follow_up_at: time | None,
) -> Moved | None:
    for view in candidates(session, appointment, now=now, tz=tz):
        try:
            moved = appointment_status.move_by_service(
                session, appointment_id=id_of(appointment), new_slot_id=id_of(view.slot), actor_id=actor_id, now=now
            )
        except (SlotFull, SlotInPast, AlreadyBooked):
            continue
        return Moved(id_of(moved), moved.resident_id, moved.starts_at, view.slot.adviser_id)
    appointment_status.set_status(
        session,
        appointment_id=id_of(appointment),
        status="service_cancelled",
        actor_id=actor_id,
        now=now,
        tz=tz,
        follow_up_at=follow_up_at,
    )
    return None


def record_absence(
    session: Session,
    draft: AbsenceDraft,
    *,
    actor_id: int | None,
    now: datetime,
    tz: ZoneInfo,
    follow_up_at: time | None,
) -> AbsenceReport:
    """Save an absence: the free slots in it go, each appointment in it is moved or cancelled (the resident
    told), and the report says which."""
    check(session, draft, now=now)
    absence = Absence(
        adviser_id=draft.adviser_id,
        starts_at=draft.starts_at,
        ends_at=draft.ends_at,
        reason=draft.reason,
        created_at=now,
        created_by_id=actor_id,
    )
    session.add(absence)
    session.flush()
    # First the slots: free ones in the absence go, booked ones close (so none is a place to move to)
    agenda.prune_slots(session, adviser_id=draft.adviser_id, now=now, tz=tz)
    booked = session.exec(
        select(Appointment)
        .join(Slot, col(Slot.id) == Appointment.slot_id)
        .where(
            Slot.adviser_id == draft.adviser_id,
            Appointment.status == "booked",
            Appointment.starts_at > now,
            Appointment.starts_at < draft.ends_at,
            Appointment.ends_at > draft.starts_at,
        )
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    ).all()
    moved: list[Moved] = []
    cancelled: list[int] = []
    for appointment in booked:
        result = _move_or_cancel(session, appointment, actor_id=actor_id, now=now, tz=tz, follow_up_at=follow_up_at)
        if result is None:
            cancelled.append(id_of(appointment))
        else:
            moved.append(result)
    audit.record(
        session,
        actor_id,
        audit.ABSENCE_CREATED,
        f"absence:{absence.id}",
        {
            "adviser_id": draft.adviser_id,
            "starts_at": draft.starts_at.isoformat(),
            "ends_at": draft.ends_at.isoformat(),
            "moved": [m.appointment_id for m in moved],
            "cancelled": cancelled,
        },
        at=now,
    )
    return AbsenceReport(absence, moved, cancelled)


def delete_absence(
    session: Session, absence_id: int, *, actor_id: int | None, now: datetime, tz: ZoneInfo
) -> agenda.SlotChanges:
    """Remove an absence: its slots come back (the appointments cancelled then stay cancelled)."""
    absence = session.get(Absence, absence_id)
    if absence is None:
        raise NotFound(f"absence {absence_id}")
    adviser_id = absence.adviser_id
    session.execute(delete(Absence).where(col(Absence.id) == absence_id))
    session.flush()
    slots = agenda.follow_openings(session, adviser_id=adviser_id, now=now, tz=tz)
    audit.record(
        session,
        actor_id,
        audit.ABSENCE_DELETED,
        f"absence:{absence_id}",
        {"adviser_id": adviser_id, "slots_back": slots.created},
        at=now,
    )
    return slots


@dataclass(frozen=True)
class AbsenceRow:
    absence: Absence
    adviser: Adviser


def list_absences(session: Session, *, now: datetime) -> list[AbsenceRow]:
    """Absences still running or to come, soonest first."""
    statement = (
        select(Absence, Adviser)
        .join(Adviser, col(Adviser.id) == Absence.adviser_id)
        .where(Absence.ends_at > now)
        .order_by(col(Absence.starts_at), col(Absence.id))
    )
    return [AbsenceRow(a, adviser) for a, adviser in session.exec(statement)]


def get_absence(session: Session, absence_id: int) -> Absence:
    absence = session.get(Absence, absence_id)
    if absence is None:
        raise NotFound(f"absence {absence_id}")
    return absence
