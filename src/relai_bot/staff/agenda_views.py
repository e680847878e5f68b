"""The advisers' and staff's agenda, read side: the appointments an account reaches for a local day or week,
one appointment with everything an adviser needs to receive the resident, and the past ones still without a
status (the back-office's banner and list). Who reaches what is staff.agenda_access.scope, the one rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from relai_bot.services.accounts import Account
from relai_bot.services.appointment_status import allowed_statuses
from relai_bot.services.errors import NotFound
from relai_bot.services.phones import display_phone
from relai_bot.staff.agenda_access import scope
from relai_bot.store.models import (
    Adviser,
    Appointment,
    CallbackRequest,
    ChannelAddress,
    District,
    OutboxMessage,
    Resident,
    Scheme,
    Slot,
    Venue,
    id_of,
)

CANCELLED = ("cancelled", "service_cancelled")
# How many earlier appointments of a resident an appointment shows (the newest first)
EARLIER_LIMIT = 10
# How many past appointments without a status the list shows (the newest first); the banner counts them all
PENDING_LIMIT = 200


@dataclass(frozen=True)
class EarlierAppointment:
    starts_at: datetime
    scheme: str | None
    status: str


@dataclass(frozen=True)
class AgendaItem:
    """One appointment as the agenda shows it; `allowed` are the statuses it may be given now."""

    id: int
    starts_at: datetime
    ends_at: datetime
    venue: str
    venue_remote: bool
    adviser_id: int
    adviser: str
    resident_id: int
    first_name: str | None
    test_resident: bool
    scheme: str | None
    age_bracket: str | None
    situation: str | None
    goal: str | None
    district: str | None
    # The language the resident reads the relai in (fr, rcf)
    language: str
    channel: str
    confirmed_at: datetime | None
    status: str
    note: str | None
    note_updated_at: datetime | None
    allowed: tuple[str, ...]
    past: bool
    callback_phone: str | None = None
    earlier: tuple[EarlierAppointment, ...] = ()

    @property
    def cancelled(self) -> bool:
        return self.status in CANCELLED


@dataclass(frozen=True)
class Period:
    """Local days [first, last] and the UTC bounds [starts, ends) of the appointments they hold."""

    first: date
    last: date
    starts: datetime
    ends: datetime
    week: bool


@dataclass(frozen=True)
class Agenda:
    period: Period
    items: list[AgendaItem]
    hidden_cancelled: int  # how many cancelled ones `items` leaves out (0 when they are shown)

    def by_day(self) -> list[tuple[date, list[AgendaItem]]]:
        """Each local day of the period with its appointments (days without any too, for the week view)."""
        tz = self.period.starts.tzinfo
        days = [self.period.first + timedelta(days=n) for n in range((self.period.last - self.period.first).days + 1)]
        return [(day, [i for i in self.items if i.starts_at.astimezone(tz).date() == day]) for day in days]


def period_of(day: date, tz: ZoneInfo, *, week: bool) -> Period:
    """The local day, or its week from Monday to Sunday, with its bounds in local time (aware)."""
    first = day - timedelta(days=day.weekday()) if week else day
    last = first + timedelta(days=6 if week else 0)
    starts = datetime.combine(first, time(), tzinfo=tz)
    ends = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz)
    return Period(first, last, starts, ends, week)


def agenda(session: Session, account: Account, period: Period, *, now: datetime, hide_cancelled: bool = True) -> Agenda:
    """The appointments of the period this account reaches, in time order; cancelled ones (by the resident
    or the service) left out when `hide_cancelled`, and counted."""
    where = [col(Appointment.starts_at) >= period.starts, col(Appointment.starts_at) < period.ends]
    items = _items(session, account, where, now=now, order=(col(Appointment.starts_at), col(Appointment.id)))
    shown = [i for i in items if not (hide_cancelled and i.cancelled)]
    return Agenda(period, _with_history(session, shown, now), len(items) - len(shown))


def appointment_detail(session: Session, account: Account, appointment_id: int, *, now: datetime) -> AgendaItem:
    """One appointment with the resident's earlier ones and call-back number. NotFound when it does not
    exist or the account does not reach it (the same answer for both)."""
    found = _items(session, account, [col(Appointment.id) == appointment_id], now=now)
    if not found:
        raise NotFound(f"appointment {appointment_id}")
    (item,) = _with_history(session, found, now)
    return item


def unstatused_past(session: Session, account: Account, now: datetime) -> tuple[list[AgendaItem], int]:
    """Appointments that ended and are still "booked" (no status set), the newest first (the first
    `PENDING_LIMIT`), and how many there are in all."""
    items = _items(
        session,
        account,
        _pending_where(now),
        now=now,
        order=(col(Appointment.starts_at).desc(), col(Appointment.id).desc()),
        limit=PENDING_LIMIT,
    )
    return _with_history(session, items, now), unstatused_count(session, account, now)


def unstatused_count(session: Session, account: Account, now: datetime) -> int:
    """How many ended appointments this account reaches still have no status: one COUNT (the banner)."""
    query = _scoped(select(func.count(col(Appointment.id))), account).where(*_pending_where(now))
    return int(session.exec(query).one())


def queued_notice(session: Session, appointment_id: int) -> datetime | None:
    """When the message the service queued for the resident about this appointment goes (None: none waits):
    what the page tells staff after a status change, as it happened rather than as it should."""
    return session.exec(
        select(OutboxMessage.due_at)
        .where(
            OutboxMessage.appointment_id == appointment_id,
            OutboxMessage.kind == "notice",
            OutboxMessage.status == "pending",
        )
        .order_by(col(OutboxMessage.id).desc())
    ).first()


def _pending_where(now: datetime) -> list[ColumnElement[bool]]:
    return [col(Appointment.status) == "booked", col(Appointment.ends_at) <= now]


def _scoped(query: SelectOfScalar[int], account: Account) -> SelectOfScalar[int]:
    return (
        query.select_from(Appointment)
        .join(Slot, col(Slot.id) == Appointment.slot_id)
        .join(Venue, col(Venue.id) == Slot.venue_id)
        .where(scope(account))
    )


def _items(
    session: Session,
    account: Account,
    where: Iterable[ColumnElement[bool]],
    *,
    now: datetime,
    order: tuple[object, ...] = (),
    limit: int | None = None,
) -> list[AgendaItem]:
    query = (
        select(Appointment, Venue, Adviser, Resident)
        .join(Slot, col(Slot.id) == Appointment.slot_id)
        .join(Venue, col(Venue.id) == Slot.venue_id)
        .join(Adviser, col(Adviser.id) == Slot.adviser_id)
        .join(Resident, col(Resident.id) == Appointment.resident_id)
        .where(scope(account), *where)
        .order_by(*order)  # type: ignore[arg-type]
    )
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.exec(query))
    schemes = _scheme_names(session, {a.scheme_id for a, *_ in rows if a.scheme_id is not None})
    districts = {id_of(d): d.name for d in session.exec(select(District))} if rows else {}
    return [
        AgendaItem(
            id=id_of(appointment),
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            venue=venue.name,
            venue_remote=venue.remote,
            adviser_id=id_of(adviser),
            adviser=adviser.name,
            resident_id=id_of(resident),
            first_name=resident.display_name,
            test_resident=resident.test,
            scheme=schemes.get(appointment.scheme_id) if appointment.scheme_id is not None else None,
            age_bracket=resident.age_bracket,
            situation=resident.situation,
            goal=resident.goal,
            district=districts.get(resident.district_id) if resident.district_id is not None else None,
            language=resident.language,
            channel=appointment.channel,
            confirmed_at=appointment.confirmed_at,
            status=appointment.status,
            note=appointment.adviser_note,
            note_updated_at=appointment.note_updated_at,
            allowed=allowed_statuses(appointment, now),
            past=appointment.ends_at <= now,
        )
        for appointment, venue, adviser, resident in rows
    ]


def _scheme_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {id_of(s): s.name for s in session.exec(select(Scheme).where(col(Scheme.id).in_(sorted(ids))))}


def _with_history(session: Session, items: list[AgendaItem], now: datetime) -> list[AgendaItem]:
    """The items with each resident's earlier appointments and call-back number (a few queries in all)."""
    resident_ids = sorted({i.resident_id for i in items})
    if not resident_ids:
        return items
    history = list(
        session.exec(
            select(Appointment)
            .where(col(Appointment.resident_id).in_(resident_ids))
            .order_by(col(Appointment.starts_at).desc(), col(Appointment.id).desc())
        )
    )
    schemes = _scheme_names(session, {a.scheme_id for a in history if a.scheme_id is not None})
    phones = _callback_phones(session, resident_ids)
    enriched = []
    for item in items:
        earlier = tuple(
            EarlierAppointment(a.starts_at, schemes.get(a.scheme_id) if a.scheme_id is not None else None, a.status)
            for a in history
            if a.resident_id == item.resident_id and a.starts_at < item.starts_at
        )[:EARLIER_LIMIT]
        enriched.append(replace(item, earlier=earlier, callback_phone=phones.get(item.resident_id)))
    return enriched


def _callback_phones(session: Session, resident_ids: list[int]) -> dict[int, str]:
    """The number of each resident's latest call-back request (the SMS address when they asked by SMS
    without typing one, as the call-back queue shows it); residents who never asked have none."""
    latest: dict[int, CallbackRequest] = {}
    requests = session.exec(
        select(CallbackRequest)
        .where(col(CallbackRequest.resident_id).in_(resident_ids))
        .order_by(col(CallbackRequest.created_at), col(CallbackRequest.id))
    )
    for request in requests:
        latest[request.resident_id] = request
    sms = dict(
        session.exec(
            select(ChannelAddress.resident_id, ChannelAddress.address).where(
                col(ChannelAddress.resident_id).in_(sorted(latest)), ChannelAddress.channel == "sms"
            )
        ).all()
    )
    phones = {rid: display_phone(r.phone or sms.get(rid)) for rid, r in latest.items()}
    return {rid: phone for rid, phone in phones.items() if phone}
