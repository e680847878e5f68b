"""Residents: consent, addresses, profile, stop / resume, export and erasure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import ColumnElement, bindparam, delete, false, func, or_, update
from sqlmodel import Session, col, select

from relai_bot.services.booking import release_future_places
from relai_bot.services.errors import NotFound
from relai_bot.services.text import fold
from relai_bot.store.models import (
    Appointment,
    CallbackRequest,
    ChannelAddress,
    Conversation,
    District,
    MessageLog,
    Resident,
    id_of,
)
from relai_bot.turns import SIMULATED_CHANNELS


def address_tag(channel: str, address: str) -> str:
    """A short, non-reversible tag for logs: never log a phone number or chat id."""
    return hashlib.sha256(f"{channel}:{address}".encode()).hexdigest()[:10]


def real_residents() -> ColumnElement[bool]:
    """The residents who count: the simulator's test residents are left out of broadcasts, reminders,
    statistics and the staff's lists (the one rule; every such query adds this WHERE clause)."""
    return col(Resident.test) == false()


def is_test_address(channel: str) -> bool:
    """An address of the back-office's simulator: whoever consents there is a test resident."""
    return channel in SIMULATED_CHANNELS


def find_by_address(session: Session, channel: str, address: str) -> Resident | None:
    statement = (
        select(Resident)
        .join(ChannelAddress, col(ChannelAddress.resident_id) == Resident.id)
        .where(ChannelAddress.channel == channel, ChannelAddress.address == address)
    )
    return session.exec(statement).first()


def create_resident(session: Session, channel: str, address: str, now: datetime, *, language: str = "fr") -> Resident:
    """Called when a person gives consent: before that, nothing about them is stored. On a simulated
    channel the resident is a test resident."""
    existing = find_by_address(session, channel, address)
    if existing is not None:
        return existing
    test = is_test_address(channel)
    resident = Resident(language=language, consent_at=now, last_seen_at=now, created_at=now, test=test)
    session.add(resident)
    session.flush()
    session.add(ChannelAddress(resident_id=id_of(resident), channel=channel, address=address, created_at=now))
    session.flush()
    return resident


def get_resident(session: Session, resident_id: int) -> Resident:
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(f"resident {resident_id}")
    return resident


def set_district(session: Session, resident: Resident, district_code: str) -> District:
    district = session.exec(select(District).where(District.code == district_code)).first()
    if district is None:
        raise NotFound(f"district {district_code}")
    resident.district_id = district.id
    session.add(resident)
    return district


def set_opportunities(session: Session, resident: Resident, wanted: bool, now: datetime) -> None:
    resident.opportunities = wanted
    resident.opportunities_at = now
    session.add(resident)


def stop(session: Session, resident: Resident, now: datetime) -> None:
    """STOP: from now on the service sends nothing on its own initiative."""
    if resident.stopped_at is None:
        resident.stopped_at = now
        session.add(resident)


def resume(session: Session, resident: Resident) -> None:
    resident.stopped_at = None
    session.add(resident)


def districts(session: Session) -> list[District]:
    return list(session.exec(select(District).order_by(col(District.id))))


def match_district(session: Session, text: str) -> District | None:
    """The district a person meant: its name, code or an alias, with typos and without accents."""
    wanted = fold(text)
    if not wanted:
        return None
    best: tuple[float, District | None] = (0.0, None)
    for district in districts(session):
        for name in (district.name, district.code.replace("-", " "), *district.aliases):
            candidate = fold(name)
            if candidate == wanted:
                return district
            score = fuzz.ratio(candidate, wanted)
            if score > best[0]:
                best = (score, district)
    return best[1] if best[0] >= 85 else None


# How precisely "last seen" is kept: staff see it to the minute, the retention counts in months, so
# a resident writing several messages in a minute costs one write, not one per message
LAST_SEEN_STEP = timedelta(minutes=1)


def touch(session: Session, resident: Resident, now: datetime) -> None:
    """The resident is active now (kept to LAST_SEEN_STEP)."""
    if resident.last_seen_at is None or not (timedelta(0) <= now - resident.last_seen_at < LAST_SEEN_STEP):
        resident.last_seen_at = now
        session.add(resident)


@dataclass
class ErasureReport:
    resident_id: int
    counts: dict[str, int] = field(default_factory=dict)


def erase_resident(session: Session, resident_id: int, now: datetime) -> ErasureReport:
    """Forget everything about a resident. Places they held in future slots are given back."""
    report = ErasureReport(resident_id=resident_id)
    release_future_places(session, resident_id, now)
    for name, model in (
        ("appointments", Appointment),
        ("callback_requests", CallbackRequest),
        ("messages", MessageLog),
        ("conversations", Conversation),
        ("addresses", ChannelAddress),
    ):
        result = session.exec(delete(model).where(col(model.resident_id) == resident_id))
        report.counts[name] = result.rowcount or 0
    result = session.exec(delete(Resident).where(col(Resident.id) == resident_id))
    report.counts["residents"] = result.rowcount or 0
    return report


def export_resident(session: Session, resident_id: int, tz_name: str) -> dict[str, Any]:
    """Everything stored about a resident, as plain data (the GDPR right of access)."""
    resident = get_resident(session, resident_id)
    district = session.get(District, resident.district_id) if resident.district_id else None
    addresses = session.exec(select(ChannelAddress).where(ChannelAddress.resident_id == resident_id)).all()
    appointments = session.exec(select(Appointment).where(Appointment.resident_id == resident_id)).all()
    callbacks = session.exec(select(CallbackRequest).where(CallbackRequest.resident_id == resident_id)).all()
    messages = session.exec(
        select(MessageLog).where(MessageLog.resident_id == resident_id).order_by(col(MessageLog.id))
    ).all()
    return {
        "time_zone": tz_name,
        "resident": {
            "id": resident.id,
            "district": district.name if district else None,
            "language": resident.language,
            "age_bracket": resident.age_bracket,
            "situation": resident.situation,
            "goal": resident.goal,
            "consent_at": resident.consent_at.isoformat(),
            "opportunities": resident.opportunities,
            "stopped_at": resident.stopped_at.isoformat() if resident.stopped_at else None,
            "last_seen_at": resident.last_seen_at.isoformat(),
        },
        "addresses": [{"channel": a.channel, "address": a.address} for a in addresses],
        "appointments": [
            {
                "id": a.id,
                "starts_at": a.starts_at.isoformat(),
                "status": a.status,
                "scheme_id": a.scheme_id,
                "adviser_note": a.adviser_note,
            }
            for a in appointments
        ],
        "callback_requests": [
            {
                "created_at": c.created_at.isoformat(),
                "phone": c.phone,
                "preferred_time": c.preferred_time,
                "topic": c.topic,
                "status": c.status,
                "handled_at": c.handled_at.isoformat() if c.handled_at else None,
                "handled_note": c.handled_note,
            }
            for c in callbacks
        ],
        "messages": [
            {"at": m.created_at.isoformat(), "direction": m.direction, "channel": m.channel, "text": m.body}
            for m in messages
        ],
    }


def count_residents(session: Session) -> int:
    """Every resident, test residents included (is the database empty of people?)."""
    return session.exec(select(func.count()).select_from(Resident)).one()


def mark_unreachable(session: Session, channel: str, address: str, now: datetime) -> None:
    """The provider says this address cannot be reached any more (blocked bot, deleted account, dead number).

    The resident stays; broadcasts skip the address, and reminders fall back to another channel if any.
    """
    row = session.exec(
        select(ChannelAddress).where(ChannelAddress.channel == channel, ChannelAddress.address == address)
    ).first()
    if row is not None and row.unreachable_at is None:
        row.unreachable_at = now
        session.add(row)
    if row is not None:
        others = session.exec(
            select(ChannelAddress).where(
                ChannelAddress.resident_id == row.resident_id,
                col(ChannelAddress.unreachable_at).is_(None),
            )
        ).first()
        if others is None:
            session.execute(
                update(Resident)
                .where(col(Resident.id) == row.resident_id, col(Resident.unreachable_at).is_(None))
                .values(unreachable_at=now)
            )


# Prepared once: this runs on every turn, and building a statement costs more than running it
_REACHABLE_AGAIN = (
    update(ChannelAddress)
    .where(
        col(ChannelAddress.channel) == bindparam("where_channel"),
        col(ChannelAddress.address) == bindparam("where_address"),
        or_(col(ChannelAddress.unreachable_at).is_not(None), col(ChannelAddress.failures) != 0),
    )
    .values(unreachable_at=None, failures=0)
    .returning(col(ChannelAddress.resident_id))
)


def mark_reachable(session: Session, channel: str, address: str) -> None:
    """A message came in from the address (or reached it): it works again.

    One UPDATE that changes nothing when the address was fine, as on most turns; it goes straight to the
    connection (no address row is loaded by a turn), the resident's own row through the session.
    """
    reset = session.connection().execute(_REACHABLE_AGAIN, {"where_channel": channel, "where_address": address}).first()
    if reset is not None:
        session.execute(update(Resident).where(col(Resident.id) == reset[0]).values(unreachable_at=None))
