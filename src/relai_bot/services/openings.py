"""Advisers' opening hours at venues: weekly (a weekday) or one-off (a date), cut into slots of a length,
each with a number of places (a group information session takes several people).

Every change is checked field by field (OpeningInvalid names each field at fault and says, in French for
staff, how to fix it), written to the audit log, and followed at once by the adviser's slots
(agenda.follow_openings). Who may change whose openings is staff/agenda_access's rule, applied by callers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from relai_bot.services import agenda, audit
from relai_bot.services.errors import FieldErrors, NotFound
from relai_bot.store.models import Adviser, Opening, Venue

SLOT_MINUTES = range(5, 481)
CAPACITY = range(1, 201)
KINDS = ("weekly", "once")
# Staff read days and hours in French
WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_DATE_FR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


class OpeningInvalid(FieldErrors):
    """An opening cannot be saved (errors by field)."""


@dataclass(frozen=True)
class OpeningDraft:
    """What a form (or a command) says an opening should be."""

    adviser_id: int
    venue_id: int
    weekday: int | None  # 0 = Monday; None for a one-off opening
    on_date: date | None
    start: time
    end: time
    slot_minutes: int
    capacity: int = 1


def clock(value: time) -> str:
    """8 h 30, 14 h"""
    return f"{value.hour} h {value.minute:02d}" if value.minute else f"{value.hour} h"


def parse_time(text: str) -> time | None:
    """08:30, 8:30, 8h30, 8 h 30, 14h"""
    found = re.fullmatch(r"(\d{1,2})\s*(?:[:h]\s*(\d{2})?)?", text.strip().lower())
    if not found:
        return None
    hour, minute = int(found.group(1)), int(found.group(2) or 0)
    return time(hour, minute) if hour < 24 and minute < 60 else None


def parse_date(text: str) -> date | None:
    """2026-12-17 (a date field) or 17/12/2026"""
    text = text.strip()
    try:
        found = _DATE_FR.match(text)
        if found:
            return date(int(found.group(3)), int(found.group(2)), int(found.group(1)))
        return date.fromisoformat(text)
    except ValueError:
        return None


def _number(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def parse_draft(values: Mapping[str, str]) -> OpeningDraft:
    """A draft from a form's fields (adviser, venue, kind, weekday, on_date, start, end, slot_minutes,
    capacity), or OpeningInvalid naming each field that cannot be read."""
    errors: dict[str, str] = {}
    adviser_id = _number(values.get("adviser", ""))
    if adviser_id is None:
        errors["adviser"] = "Choisissez un conseiller dans la liste."
    venue_id = _number(values.get("venue", ""))
    if venue_id is None:
        errors["venue"] = "Choisissez un lieu dans la liste."
    kind = values.get("kind", "")
    weekday: int | None = None
    on_date: date | None = None
    if kind not in KINDS:
        errors["kind"] = "Choisissez « chaque semaine » ou « une seule fois »."
    elif kind == "weekly":
        weekday = _number(values.get("weekday", ""))
        if weekday is None or weekday > 6:
            errors["weekday"] = "Choisissez le jour de la semaine."
    else:
        on_date = parse_date(values.get("on_date", ""))
        if on_date is None:
            errors["on_date"] = "Écrivez la date sous la forme 17/12/2026."
    start = parse_time(values.get("start", ""))
    if start is None:
        errors["start"] = "Écrivez l'heure de début sous la forme 08:30."
    end = parse_time(values.get("end", ""))
    if end is None:
        errors["end"] = "Écrivez l'heure de fin sous la forme 11:30."
    slot_minutes = _number(values.get("slot_minutes", ""))
    if slot_minutes is None:
        errors["slot_minutes"] = "Écrivez la durée d'un créneau en minutes, par exemple 45."
    capacity = _number(values.get("capacity", ""))
    if capacity is None:
        errors["capacity"] = "Écrivez le nombre de places en chiffres, par exemple 1 (ou 12 pour une réunion)."
    if errors:
        raise OpeningInvalid(errors)
    assert adviser_id is not None and venue_id is not None and start is not None and end is not None
    assert slot_minutes is not None and capacity is not None
    return OpeningDraft(adviser_id, venue_id, weekday, on_date, start, end, slot_minutes, capacity)


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def describe_day(opening: Opening | OpeningDraft) -> str:
    """« le mardi », « le jeudi 17/12/2026 » (staff)."""
    if opening.on_date is not None:
        return f"le {WEEKDAY_NAMES[opening.on_date.weekday()]} {opening.on_date:%d/%m/%Y}"
    return f"le {WEEKDAY_NAMES[opening.weekday or 0]}"


def same_day(a: Opening | OpeningDraft, b: Opening | OpeningDraft) -> bool:
    """Whether two openings can fall on the same day (a weekly one and a one-off one on that weekday)."""
    if a.on_date is not None and b.on_date is not None:
        return a.on_date == b.on_date
    day_a = a.on_date.weekday() if a.on_date is not None else a.weekday
    day_b = b.on_date.weekday() if b.on_date is not None else b.weekday
    return day_a == day_b


def check(session: Session, draft: OpeningDraft, *, now: datetime, tz: ZoneInfo, opening_id: int | None = None) -> None:
    """Raise OpeningInvalid with every rule the draft breaks (see the module's docstring)."""
    errors: dict[str, str] = {}
    adviser = session.get(Adviser, draft.adviser_id)
    if adviser is None:
        errors["adviser"] = "Ce conseiller n'existe pas ou plus : choisissez-en un dans la liste."
    elif not adviser.active:
        errors["adviser"] = "Ce conseiller n'est plus actif : choisissez-en un autre."
    if session.get(Venue, draft.venue_id) is None:
        errors["venue"] = "Ce lieu n'existe pas ou plus : choisissez-en un dans la liste."
    if draft.on_date is not None:
        if draft.on_date < now.astimezone(tz).date():
            errors["on_date"] = "Cette date est passée : choisissez aujourd'hui ou un jour à venir."
        elif agenda.is_public_holiday(draft.on_date):
            errors["on_date"] = "C'est un jour férié à La Réunion : choisissez un autre jour."
    elif draft.weekday is None or not 0 <= draft.weekday <= 6:
        errors["weekday"] = "Choisissez le jour de la semaine."
    length = _minutes(draft.end) - _minutes(draft.start)
    if length <= 0:
        errors["end"] = f"L'heure de fin doit venir après l'heure de début ({clock(draft.start)})."
    if draft.slot_minutes not in SLOT_MINUTES:
        errors["slot_minutes"] = "Un créneau dure de 5 à 480 minutes (8 heures)."
    elif length > 0 and draft.slot_minutes > length:
        errors["slot_minutes"] = (
            f"Aucun créneau de {draft.slot_minutes} minutes ne tient entre {clock(draft.start)} et "
            f"{clock(draft.end)} : raccourcissez les créneaux ou allongez la plage."
        )
    if draft.capacity not in CAPACITY:
        errors["capacity"] = "Le nombre de places va de 1 à 200."
    if length > 0 and not errors.keys() & {"on_date", "weekday"}:
        clash = _overlapping(session, draft, opening_id)
        if clash is not None:
            venue = session.get(Venue, clash.venue_id)
            errors["start"] = (
                f"Ce conseiller reçoit déjà {describe_day(clash)} de {clock(clash.start)} à {clock(clash.end)}"
                f" ({venue.name if venue else 'un autre lieu'}) : choisissez d'autres heures ou un autre jour."
            )
    if errors:
        raise OpeningInvalid(errors)


def _overlapping(session: Session, draft: OpeningDraft, opening_id: int | None) -> Opening | None:
    statement = select(Opening).where(
        Opening.adviser_id == draft.adviser_id, col(Opening.start) < draft.end, col(Opening.end) > draft.start
    )
    if opening_id is not None:
        statement = statement.where(Opening.id != opening_id)
    return next((o for o in session.exec(statement.order_by(col(Opening.id))) if same_day(o, draft)), None)


@dataclass(frozen=True)
class OpeningSaved:
    opening: Opening
    slots: agenda.SlotChanges


def _detail(opening: Opening, slots: agenda.SlotChanges) -> dict[str, Any]:
    return {
        "adviser_id": opening.adviser_id,
        "venue_id": opening.venue_id,
        "weekday": opening.weekday,
        "on_date": opening.on_date.isoformat() if opening.on_date else None,
        "start": opening.start.strftime("%H:%M"),
        "end": opening.end.strftime("%H:%M"),
        "slot_minutes": opening.slot_minutes,
        "capacity": opening.capacity,
        "slots": asdict(slots),
    }


def create_opening(
    session: Session, draft: OpeningDraft, *, actor_id: int | None, now: datetime, tz: ZoneInfo
) -> OpeningSaved:
    """Save a new opening; its slots appear at once."""
    check(session, draft, now=now, tz=tz)
    opening = Opening(**asdict(draft))
    session.add(opening)
    session.flush()
    slots = agenda.follow_openings(session, adviser_id=draft.adviser_id, now=now, tz=tz)
    audit.record(session, actor_id, audit.OPENING_CREATED, f"opening:{opening.id}", _detail(opening, slots), at=now)
    return OpeningSaved(opening, slots)


def get_opening(session: Session, opening_id: int) -> Opening:
    opening = session.get(Opening, opening_id)
    if opening is None:
        raise NotFound(f"opening {opening_id}")
    return opening


def update_opening(
    session: Session, opening_id: int, draft: OpeningDraft, *, actor_id: int | None, now: datetime, tz: ZoneInfo
) -> OpeningSaved:
    """Change an opening; the slots no opening makes any more go (booked ones stay, outside the hours)."""
    opening = get_opening(session, opening_id)
    check(session, draft, now=now, tz=tz, opening_id=opening_id)
    before = opening.adviser_id
    for name, value in asdict(draft).items():
        setattr(opening, name, value)
    session.add(opening)
    session.flush()
    slots = agenda.follow_openings(session, adviser_id=draft.adviser_id, now=now, tz=tz)
    if before != draft.adviser_id:
        old = agenda.follow_openings(session, adviser_id=before, now=now, tz=tz)
        slots = agenda.SlotChanges(slots.created, slots.deleted + old.deleted, slots.closed + old.closed)
    audit.record(session, actor_id, audit.OPENING_UPDATED, f"opening:{opening_id}", _detail(opening, slots), at=now)
    return OpeningSaved(opening, slots)


def delete_opening(
    session: Session, opening_id: int, *, actor_id: int | None, now: datetime, tz: ZoneInfo
) -> agenda.SlotChanges:
    """Remove an opening; its free slots go, booked ones stay (outside the hours) for staff to act on."""
    opening = get_opening(session, opening_id)
    adviser_id = opening.adviser_id
    detail = _detail(opening, agenda.SlotChanges(0, 0, 0))
    session.delete(opening)
    session.flush()
    slots = agenda.follow_openings(session, adviser_id=adviser_id, now=now, tz=tz)
    audit.record(
        session, actor_id, audit.OPENING_DELETED, f"opening:{opening_id}", detail | {"slots": asdict(slots)}, at=now
    )
    return slots


@dataclass(frozen=True)
class OpeningRow:
    opening: Opening
    adviser: Adviser
    venue: Venue


def list_openings(session: Session, *, today: date | None = None) -> list[OpeningRow]:
    """Every opening with its adviser and venue (one-off ones before `today` left out), by adviser, venue,
    then weekly ones by weekday and one-off ones by date."""
    statement = (
        select(Opening, Adviser, Venue)
        .join(Adviser, col(Adviser.id) == Opening.adviser_id)
        .join(Venue, col(Venue.id) == Opening.venue_id)
    )
    rows = [OpeningRow(o, a, v) for o, a, v in session.exec(statement)]
    if today is not None:
        rows = [r for r in rows if r.opening.on_date is None or r.opening.on_date >= today]
    return sorted(
        rows,
        key=lambda r: (
            r.adviser.name,
            r.venue.name,
            r.opening.on_date or date.min,
            r.opening.weekday or 0,
            r.opening.start,
        ),
    )


def advisers(session: Session) -> list[Adviser]:
    return list(session.exec(select(Adviser).order_by(col(Adviser.name))))


def venues(session: Session) -> list[Venue]:
    return list(session.exec(select(Venue).order_by(col(Venue.name))))


def draft_of(opening: Opening) -> OpeningDraft:
    return OpeningDraft(
        opening.adviser_id,
        opening.venue_id,
        opening.weekday,
        opening.on_date,
        opening.start,
        opening.end,
        opening.slot_minutes,
        opening.capacity,
    )


def form_values(opening: Opening | None) -> dict[str, str]:
    """The form's fields for an opening (empty for a new one)."""
    if opening is None:
        blank = dict.fromkeys(("adviser", "venue", "weekday", "on_date", "start", "end"), "")
        return blank | {"kind": "weekly", "slot_minutes": "45", "capacity": "1"}
    return {
        "adviser": str(opening.adviser_id),
        "venue": str(opening.venue_id),
        "kind": "once" if opening.on_date is not None else "weekly",
        "weekday": "" if opening.weekday is None else str(opening.weekday),
        "on_date": opening.on_date.isoformat() if opening.on_date else "",
        "start": opening.start.strftime("%H:%M"),
        "end": opening.end.strftime("%H:%M"),
        "slot_minutes": str(opening.slot_minutes),
        "capacity": str(opening.capacity),
    }
