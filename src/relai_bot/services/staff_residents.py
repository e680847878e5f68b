"""Residents as neighbourhood staff see them: those of the districts their account reaches (admins: all).

Staff see the minimum they need to help: a name if the resident gave one, the district, the channels (never a
chat id; the phone number only on one resident's page, to call them back), consent, opportunities, whether
messages are stopped or cannot arrive, the questionnaire's answers (as codes: pages show the labels), and on
one resident's page their history: every appointment with its status, the broadcasts sent to them (their
titles, never a message's text). Staff find a resident by district, by a part of the name they gave, or by
the last digits (4 at least) of their phone number: enough to find the person on the line, too few to go
through the numbers. A Telegram handle is not stored (only the chat id), so it cannot be searched. Exporting
and erasing a resident's data on their request reuse the residents' own "Mon compte" functions and go to
the audit log, naming the resident by id only.

A resident outside the account's districts is NotFound, exactly like one who does not exist. The district
rule itself is `Account.may_reach_resident` (over `Account.may_reach_district`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_
from sqlmodel import Session, col, select

from relai_bot.services import audit, residents
from relai_bot.services.accounts import Account, visible_districts
from relai_bot.services.booking import AppointmentView, upcoming_appointments
from relai_bot.services.errors import DomainError, NotFound
from relai_bot.services.phones import display_phone
from relai_bot.store.models import (
    Adviser,
    Appointment,
    Broadcast,
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

PAGE_SIZE = 50
SMS = "sms"
# A search by phone number takes its last digits: 4 at least (fewer would match too many), 10 at most
PHONE_END_DIGITS = (4, 10)
NAME_MAX = 60
# The most broadcasts one resident's page lists (the newest first)
BROADCASTS_LIMIT = 50


class SearchTooVague(DomainError):
    """A search by phone number with too few digits (or not digits at all)."""


@dataclass(frozen=True)
class ResidentRow:
    """One resident in a staff list: no address, no message."""

    id: int
    display_name: str | None
    district_code: str | None
    district_name: str | None
    channels: tuple[str, ...]
    consent_at: datetime
    opportunities: bool
    stopped: bool
    unreachable: bool
    last_seen_at: datetime
    age_bracket: str | None
    situation: str | None
    goal: str | None
    # The language the resident reads the relai in (fr, rcf): an adviser who calls knows which to speak
    language: str


@dataclass(frozen=True)
class ResidentPage:
    rows: list[ResidentRow]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class AppointmentRow:
    """One appointment in a resident's history (its status as stored: booked, attended, no_show...)."""

    id: int
    starts_at: datetime
    status: str
    venue_name: str
    adviser_name: str
    scheme_name: str | None


@dataclass(frozen=True)
class BroadcastRow:
    """A broadcast sent to the resident: its title and how its message went, not the message."""

    broadcast_id: int
    title: str | None
    channel: str
    status: str
    at: datetime


@dataclass(frozen=True)
class ResidentDetail:
    """One resident's page: the list's row, the numbers to call them back on, their upcoming appointments,
    every appointment newest first, and the broadcasts sent to them."""

    row: ResidentRow
    phones: tuple[str, ...]
    appointments: list[AppointmentView]
    history: list[AppointmentRow]
    broadcasts: list[BroadcastRow]


def resident_scope(session: Session, account: Account) -> ColumnElement[bool]:
    """A WHERE clause on `Resident` keeping the residents this account may see (`Account.may_reach_resident`);
    the simulator's test residents are never listed (they are reached from the simulator only)."""
    if account.is_admin:
        return residents.real_residents()
    ids = [id_of(d) for d in visible_districts(session, account)]
    clauses: list[ColumnElement[bool]] = [col(Resident.district_id).in_(ids)] if ids else []
    if account.may_reach_resident(None):
        clauses.append(col(Resident.district_id).is_(None))
    return and_(residents.real_residents(), or_(*clauses)) if clauses else false()


def phone_end(text: str) -> str:
    """The digits of a "last digits of the number" search ("3456", "34 56" -> "3456"); SearchTooVague when
    they are fewer than 4 or more than 10, or when the text holds anything but digits and spaces."""
    digits = re.sub(r"[\s.\-]", "", text)
    low, high = PHONE_END_DIGITS
    if not re.fullmatch(rf"\d{{{low},{high}}}", digits):
        raise SearchTooVague(text[:20])
    return digits


def list_residents(
    session: Session,
    account: Account,
    *,
    district: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> ResidentPage:
    """The residents this account may see, newest activity first, `size` a page. `district` (a code) narrows
    to one of them (a district out of reach gives an empty page); `name`, to those whose given name holds it
    (case aside); `phone`, to those whose SMS number or call-back number ends with these digits
    (`phone_end`: SearchTooVague when too few)."""
    query = select(Resident).where(resident_scope(session, account))
    if district:
        found = session.exec(select(District).where(District.code == district)).first()
        query = query.where(col(Resident.district_id) == (found.id if found is not None else -1))
    if name and name.strip():
        wanted = re.sub(r"([\\%_])", r"\\\1", name.strip()[:NAME_MAX])
        query = query.where(col(Resident.display_name).ilike(f"%{wanted}%", escape="\\"))
    if phone is not None:
        digits = phone_end(phone)
        by_sms = select(ChannelAddress.resident_id).where(
            ChannelAddress.channel == SMS, col(ChannelAddress.address).like(f"%{digits}")
        )
        by_callback = select(CallbackRequest.resident_id).where(col(CallbackRequest.phone).like(f"%{digits}"))
        query = query.where(or_(col(Resident.id).in_(by_sms), col(Resident.id).in_(by_callback)))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    found_rows = session.exec(
        query.order_by(col(Resident.last_seen_at).desc(), col(Resident.id).desc()).offset((page - 1) * size).limit(size)
    ).all()
    return ResidentPage(_rows(session, list(found_rows)), page, pages, total)


def search_residents(
    session: Session,
    account: Account,
    *,
    now: datetime,
    district: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    page: int = 1,
) -> ResidentPage:
    """`list_residents`; a search by name or phone number goes to the audit log (by what, not the words)."""
    found = list_residents(session, account, district=district, name=name, phone=phone, page=page)
    criteria = [what for what, value in (("name", name), ("phone", phone)) if value]
    if criteria:
        detail = {"by": criteria, "found": found.total}
        audit.record(session, account.id, audit.RESIDENTS_SEARCHED, "residents", detail, at=now)
    return found


def open_resident(session: Session, account: Account, resident_id: int, *, now: datetime) -> ResidentDetail:
    """A staff member opens a resident's page: `resident_detail`, and the audit log keeps who looked."""
    detail = resident_detail(session, account, resident_id, now=now)
    audit.record(session, account.id, audit.RESIDENT_VIEWED, f"resident {resident_id}", at=now)
    return detail


def get_resident(session: Session, account: Account, resident_id: int) -> Resident:
    """The resident, if this account may see them; NotFound otherwise (whether they exist or not)."""
    resident = session.get(Resident, resident_id)
    if resident is None or resident.test or not account.may_reach_resident(resident.district_id):
        raise NotFound(f"resident {resident_id}")
    return resident


def resident_detail(session: Session, account: Account, resident_id: int, *, now: datetime) -> ResidentDetail:
    resident = get_resident(session, account, resident_id)
    (row,) = _rows(session, [resident])
    numbers = session.exec(
        select(ChannelAddress.address).where(ChannelAddress.resident_id == resident_id, ChannelAddress.channel == SMS)
    ).all()
    phones = tuple(shown for number in numbers if (shown := display_phone(number)) is not None)
    return ResidentDetail(
        row,
        phones,
        upcoming_appointments(session, resident_id, now),
        appointment_history(session, resident_id),
        broadcasts_received(session, resident_id),
    )


def appointment_history(session: Session, resident_id: int) -> list[AppointmentRow]:
    """Every appointment of the resident, the latest first, with its status."""
    statement = (
        select(Appointment, Venue.name, Adviser.name, Scheme.name)
        .join(Slot, col(Slot.id) == Appointment.slot_id)
        .join(Venue, col(Venue.id) == Slot.venue_id)
        .join(Adviser, col(Adviser.id) == Slot.adviser_id)
        .outerjoin(Scheme, col(Scheme.id) == Appointment.scheme_id)
        .where(Appointment.resident_id == resident_id)
        .order_by(col(Appointment.starts_at).desc(), col(Appointment.id).desc())
    )
    return [
        AppointmentRow(id_of(a), a.starts_at, a.status, venue, adviser, scheme)
        for a, venue, adviser, scheme in session.exec(statement)
    ]


def broadcasts_received(session: Session, resident_id: int) -> list[BroadcastRow]:
    """The broadcasts sent (or being sent) to the resident, the latest first (`BROADCASTS_LIMIT`)."""
    statement = (
        select(OutboxMessage, Broadcast.title)
        .join(Broadcast, col(Broadcast.id) == OutboxMessage.broadcast_id)
        .where(OutboxMessage.resident_id == resident_id)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(BROADCASTS_LIMIT)
    )
    return [
        BroadcastRow(m.broadcast_id or 0, title, m.channel, m.status, m.sent_at or m.due_at)
        for m, title in session.exec(statement)
    ]


def export_data(session: Session, account: Account, resident_id: int, *, tz_name: str, now: datetime) -> dict[str, Any]:
    """What the resident's own export gives (`residents.export_resident`), asked through staff; audited."""
    get_resident(session, account, resident_id)
    data = residents.export_resident(session, resident_id, tz_name)
    audit.record(session, account.id, audit.DATA_EXPORTED, f"resident {resident_id}", at=now)
    return data


def erase_data(session: Session, account: Account, resident_id: int, *, now: datetime) -> residents.ErasureReport:
    """Forget the resident (`residents.erase_resident`: future places are given back), asked through staff;
    audited."""
    get_resident(session, account, resident_id)
    report = residents.erase_resident(session, resident_id, now)
    audit.record(session, account.id, audit.DATA_ERASED, f"resident {resident_id}", at=now)
    return report


def _rows(session: Session, found: list[Resident]) -> list[ResidentRow]:
    ids = [id_of(r) for r in found]
    channels: dict[int, set[str]] = {}
    if ids:
        for resident_id, channel in session.exec(
            select(ChannelAddress.resident_id, ChannelAddress.channel).where(col(ChannelAddress.resident_id).in_(ids))
        ):
            channels.setdefault(resident_id, set()).add(channel)
    districts = {id_of(d): d for d in session.exec(select(District))}
    rows = []
    for resident in found:
        district = districts.get(resident.district_id) if resident.district_id is not None else None
        rows.append(
            ResidentRow(
                id=id_of(resident),
                display_name=resident.display_name,
                district_code=district.code if district else None,
                district_name=district.name if district else None,
                channels=tuple(sorted(channels.get(id_of(resident), set()))),
                consent_at=resident.consent_at,
                opportunities=resident.opportunities,
                stopped=resident.stopped_at is not None,
                unreachable=resident.unreachable_at is not None,
                last_seen_at=resident.last_seen_at,
                age_bracket=resident.age_bracket,
                situation=resident.situation,
                language=resident.language,
                goal=resident.goal,
            )
        )
    return rows
