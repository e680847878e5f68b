"""The commune's dashboard: what the relai achieves, for a period (local dates, both included) and districts.

Rules, all here:
- Scope: the districts an account reaches (`Account.may_reach_district`: admins all, staff theirs); a district
  asked for outside them is left out. Residents without a district count only for an admin who chose no
  district. A resident counts in the district they have now (scheme events: the one they had then).
- Test residents (`Resident.test`, the simulator) are left out of every figure; erased residents too (their
  rows are gone).
- Weeks are ISO weeks (Monday to Sunday) in local time; the first and last may be cut by the period.
- A no-show rate is no_show / (attended + no_show) among the period's past appointments with one of those two
  statuses; "excused" counts as neither, and an appointment without a status is not counted.
- A reminder was delivered when some reminder message of that appointment (outbox kind "reminder") was handed
  to Telegram or the SMS operator without error ("sent") or confirmed received on the phone ("delivered").
- The funnel counts distinct residents: shown and opened from the scheme events of the period, booked from
  the appointments of that scheme booked in the period, seen among those the ones with status "attended".

Every figure is one grouped query (or two), whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, distinct, false, func, literal, literal_column, true
from sqlmodel import Session, col, select

from relai_bot.services.accounts import Account, visible_districts
from relai_bot.store.models import (
    Appointment,
    ChannelAddress,
    District,
    OutboxMessage,
    Resident,
    Scheme,
    SchemeEvent,
    id_of,
)

# What a past appointment's status says of the visit (the rest is not counted in the no-show rate)
SEEN, NO_SHOW = "attended", "no_show"
# A reminder that reached the resident (see the module's docstring)
DELIVERED_STATUSES = ("sent", "delivered")
# How broadcast messages ended, in the dashboard's order ("waiting": pending or sending still)
BROADCAST_OUTCOMES = ("delivered", "sent", "failed", "skipped", "waiting")


@dataclass(frozen=True)
class Scope:
    """The districts the figures cover: ids, or None for every resident (with or without a district)."""

    district_ids: frozenset[int] | None

    def where(self, column: Any) -> ColumnElement[bool]:
        if self.district_ids is None:
            return true()
        return col(column).in_(sorted(self.district_ids)) if self.district_ids else false()


@dataclass(frozen=True)
class Week:
    """An ISO week in local time, cut to the period: [starts_at, ends_at) in UTC."""

    year: int
    number: int
    monday: date
    first_day: date
    last_day: date
    starts_at: datetime
    ends_at: datetime

    @property
    def code(self) -> str:
        return f"{self.year}-S{self.number:02d}"

    @property
    def partial(self) -> bool:
        return (self.last_day - self.first_day).days < 6


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date
    tz: ZoneInfo

    @property
    def starts_at(self) -> datetime:
        return _midnight(self.first_day, self.tz)

    @property
    def ends_at(self) -> datetime:
        return _midnight(self.last_day + timedelta(days=1), self.tz)

    def weeks(self) -> list[Week]:
        weeks: list[Week] = []
        day = self.first_day
        while day <= self.last_day:
            monday = day - timedelta(days=day.weekday())
            last = min(monday + timedelta(days=6), self.last_day)
            year, number, _ = day.isocalendar()
            weeks.append(
                Week(year, number, monday, day, last, _midnight(day, self.tz), _midnight(last + timedelta(1), self.tz))
            )
            day = last + timedelta(days=1)
        return weeks


@dataclass(frozen=True)
class DistrictResidents:
    district: str  # the district's name ("" : no district)
    by_channel: dict[str, int]  # residents with an address on that channel
    total: int  # distinct residents (one with two channels counts once)


@dataclass(frozen=True)
class WeekCount:
    week: Week
    count: int


@dataclass(frozen=True)
class NoShowWeek:
    week: Week
    seen_reminded: int
    no_show_reminded: int
    seen_not_reminded: int
    no_show_not_reminded: int

    @property
    def counted(self) -> int:
        return self.seen_reminded + self.no_show_reminded + self.seen_not_reminded + self.no_show_not_reminded

    @property
    def rate(self) -> float | None:
        return _rate(self.no_show_reminded + self.no_show_not_reminded, self.counted)

    @property
    def rate_reminded(self) -> float | None:
        return _rate(self.no_show_reminded, self.seen_reminded + self.no_show_reminded)

    @property
    def rate_not_reminded(self) -> float | None:
        return _rate(self.no_show_not_reminded, self.seen_not_reminded + self.no_show_not_reminded)


@dataclass(frozen=True)
class BroadcastDelivery:
    district: str
    outcomes: dict[str, int]  # BROADCAST_OUTCOMES -> messages

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


@dataclass(frozen=True)
class SchemeFunnel:
    code: str
    name: str
    shown: int
    opened: int
    booked: int
    seen: int


@dataclass(frozen=True)
class Dashboard:
    period: Period
    districts: list[str]  # the names of the districts covered ([] with None scope: every one)
    channels: list[str]
    residents: list[DistrictResidents]
    new_contacts: list[WeekCount]
    bookings: list[WeekCount]
    no_shows: list[NoShowWeek]
    broadcasts: list[BroadcastDelivery]
    funnel: list[SchemeFunnel]
    every_district: bool = field(default=False)


def scope_for(session: Session, account: Account, wanted: Collection[int] = ()) -> Scope:
    """The districts this account may see, narrowed to `wanted` when given (none asked: all of theirs)."""
    reachable = {id_of(d) for d in visible_districts(session, account)}
    if wanted:
        return Scope(frozenset(reachable & set(wanted)))
    return Scope(None) if account.is_admin else Scope(frozenset(reachable))


def compute(session: Session, scope: Scope, period: Period, now: datetime) -> Dashboard:
    """Every figure of the dashboard for the period and scope."""
    names = _district_names(session)
    residents = residents_by_district(session, scope, period, names)
    channels = sorted({channel for row in residents for channel in row.by_channel})
    covered = (
        [names[i] for i in sorted(scope.district_ids, key=lambda i: names.get(i, ""))]
        if scope.district_ids is not None
        else []
    )
    return Dashboard(
        period=period,
        districts=covered,
        channels=channels,
        residents=residents,
        new_contacts=new_contacts(session, scope, period),
        bookings=bookings(session, scope, period),
        no_shows=no_shows(session, scope, period, now),
        broadcasts=broadcast_delivery(session, scope, period, names),
        funnel=funnel(session, scope, period),
        every_district=scope.district_ids is None,
    )


def residents_by_district(
    session: Session, scope: Scope, period: Period, names: dict[int | None, str] | None = None
) -> list[DistrictResidents]:
    """Residents who had consented by the end of the period, by district and by channel, districts by name."""
    names = names if names is not None else _district_names(session)
    kept = (Resident.test == false(), col(Resident.created_at) < period.ends_at, scope.where(Resident.district_id))
    per_channel = session.exec(
        select(Resident.district_id, ChannelAddress.channel, func.count(distinct(col(Resident.id))))
        .join(ChannelAddress, col(ChannelAddress.resident_id) == Resident.id)
        .where(*kept)
        .group_by(col(Resident.district_id), col(ChannelAddress.channel))
    ).all()
    totals = session.exec(
        select(Resident.district_id, func.count()).where(*kept).group_by(col(Resident.district_id))
    ).all()
    channels: dict[int | None, dict[str, int]] = {}
    for district_id, channel, count in per_channel:
        channels.setdefault(district_id, {})[channel] = count
    rows = [DistrictResidents(names.get(d, ""), channels.get(d, {}), total) for d, total in totals]
    return sorted(rows, key=lambda row: (row.district == "", row.district))


def new_contacts(session: Session, scope: Scope, period: Period) -> list[WeekCount]:
    """Residents who gave consent (their record was made) each week."""
    weeks = period.weeks()
    week = _week_of(col(Resident.created_at), weeks)
    found = dict(
        session.exec(
            select(week, func.count())
            .where(Resident.test == false(), scope.where(Resident.district_id), _within(Resident.created_at, period))
            .group_by(week)
        ).all()
    )
    return [WeekCount(w, int(found.get(i, 0))) for i, w in enumerate(weeks)]


def bookings(session: Session, scope: Scope, period: Period) -> list[WeekCount]:
    """Appointments booked each week (by when they were booked, whatever became of them)."""
    weeks = period.weeks()
    week = _week_of(col(Appointment.booked_at), weeks)
    found = dict(
        session.exec(
            select(week, func.count())
            .join(Resident, col(Resident.id) == Appointment.resident_id)
            .where(Resident.test == false(), scope.where(Resident.district_id), _within(Appointment.booked_at, period))
            .group_by(week)
        ).all()
    )
    return [WeekCount(w, int(found.get(i, 0))) for i, w in enumerate(weeks)]


def no_shows(session: Session, scope: Scope, period: Period, now: datetime) -> list[NoShowWeek]:
    """Past appointments of each week (by when they took place) seen or not come, with and without a
    delivered reminder."""
    weeks = period.weeks()
    week = _week_of(col(Appointment.starts_at), weeks)
    reminded = (
        select(OutboxMessage.id)
        .where(
            col(OutboxMessage.appointment_id) == Appointment.id,
            OutboxMessage.kind == "reminder",
            col(OutboxMessage.status).in_(DELIVERED_STATUSES),
        )
        .exists()
    )
    visits = (
        select(
            week.label("week"),
            case((reminded, 1), else_=0).label("reminded"),
            col(Appointment.status).label("status"),
        )
        .join(Resident, col(Resident.id) == Appointment.resident_id)
        .where(
            Resident.test == false(),
            scope.where(Resident.district_id),
            _within(Appointment.starts_at, period),
            col(Appointment.starts_at) < now,
            col(Appointment.status).in_((SEEN, NO_SHOW)),
        )
        .subquery()
    )
    rows = session.exec(
        select(visits.c.week, visits.c.reminded, visits.c.status, func.count()).group_by(
            visits.c.week, visits.c.reminded, visits.c.status
        )
    ).all()
    counts: dict[tuple[int, int, str], int] = {(w, r, s): n for w, r, s, n in rows}
    return [
        NoShowWeek(
            w,
            seen_reminded=counts.get((i, 1, SEEN), 0),
            no_show_reminded=counts.get((i, 1, NO_SHOW), 0),
            seen_not_reminded=counts.get((i, 0, SEEN), 0),
            no_show_not_reminded=counts.get((i, 0, NO_SHOW), 0),
        )
        for i, w in enumerate(weeks)
    ]


def broadcast_delivery(
    session: Session, scope: Scope, period: Period, names: dict[int | None, str] | None = None
) -> list[BroadcastDelivery]:
    """Broadcast messages enqueued in the period, by the recipient's district and how they ended."""
    names = names if names is not None else _district_names(session)
    outcome = case(
        (col(OutboxMessage.status).in_(("pending", "sending")), literal("waiting")), else_=col(OutboxMessage.status)
    )
    rows = session.exec(
        select(Resident.district_id, outcome, func.count())
        .join(Resident, col(Resident.id) == OutboxMessage.resident_id)
        .where(
            OutboxMessage.kind == "broadcast",
            Resident.test == false(),
            scope.where(Resident.district_id),
            _within(OutboxMessage.created_at, period),
        )
        .group_by(col(Resident.district_id), outcome)
    ).all()
    by_district: dict[int | None, dict[str, int]] = {}
    for district_id, status, count in rows:
        by_district.setdefault(district_id, dict.fromkeys(BROADCAST_OUTCOMES, 0))[status] = count
    found = [BroadcastDelivery(names.get(d, ""), outcomes) for d, outcomes in by_district.items()]
    return sorted(found, key=lambda row: (row.district == "", row.district))


def funnel(session: Session, scope: Scope, period: Period) -> list[SchemeFunnel]:
    """Per scheme, distinct residents who were shown it, opened it, booked it and were seen (by name)."""
    events = session.exec(
        select(SchemeEvent.scheme_id, SchemeEvent.kind, func.count(distinct(col(SchemeEvent.resident_id))))
        .join(Resident, col(Resident.id) == SchemeEvent.resident_id)
        .where(Resident.test == false(), scope.where(SchemeEvent.district_id), _within(SchemeEvent.created_at, period))
        .group_by(col(SchemeEvent.scheme_id), col(SchemeEvent.kind))
    ).all()
    seen = case((col(Appointment.status) == SEEN, Appointment.resident_id), else_=None)
    booked = session.exec(
        select(Appointment.scheme_id, func.count(distinct(col(Appointment.resident_id))), func.count(distinct(seen)))
        .join(Resident, col(Resident.id) == Appointment.resident_id)
        .where(
            col(Appointment.scheme_id).is_not(None),
            Resident.test == false(),
            scope.where(Resident.district_id),
            _within(Appointment.booked_at, period),
        )
        .group_by(col(Appointment.scheme_id))
    ).all()
    shown_opened: dict[tuple[int, str], int] = {(s, k): n for s, k, n in events}
    booked_seen: dict[int | None, tuple[int, int]] = {s: (b, n) for s, b, n in booked}
    schemes = session.exec(select(Scheme.id, Scheme.code, Scheme.name).order_by(col(Scheme.name))).all()
    rows = []
    for scheme_id, code, name in schemes:  # the catalogue: a few dozen rows
        assert scheme_id is not None
        b, s = booked_seen.get(scheme_id, (0, 0))
        rows.append(
            SchemeFunnel(
                code, name, shown_opened.get((scheme_id, "shown"), 0), shown_opened.get((scheme_id, "opened"), 0), b, s
            )
        )
    return rows


def _district_names(session: Session) -> dict[int | None, str]:
    return {id_of(d): d.name for d in session.exec(select(District))}


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(UTC)


def _within(column: Any, period: Period) -> ColumnElement[bool]:
    return (col(column) >= period.starts_at) & (col(column) < period.ends_at)


def _week_of(column: Any, weeks: Sequence[Week]) -> Any:
    """The index of the week a moment falls in (the moments are already within the period): nested CASEs
    that halve the weeks at each step, so a row costs a few comparisons however long the period."""

    def among(first: int, end: int) -> Any:
        if end - first == 1:
            return literal_column(str(first))
        middle = (first + end) // 2
        return case((column < weeks[middle].starts_at, among(first, middle)), else_=among(middle, end))

    return among(0, len(weeks)) if weeks else literal_column("0")


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None
