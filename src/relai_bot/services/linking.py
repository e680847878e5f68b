"""One person, two channels: a resident's Telegram account and SMS number become one resident.

A resident shares their phone number (Telegram's "share my contact"); `link_phone` adds it as their SMS
address. If another resident already owns that number (they wrote by SMS before), the two are merged in
the caller's transaction: every row that belongs to the other resident (addresses, conversations,
appointments, call-back requests, message log, outbox, waiting list…) moves to the one who shared, and
the other is deleted. Consents (consent date, opportunities, stop) come from the resident who consented
more recently, as the latest word of the person; district and profile too, unless that one has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Table, delete, update
from sqlmodel import Session, SQLModel, col, select

from relai_bot.services.phones import normalise_phone
from relai_bot.services.residents import get_resident
from relai_bot.store import models as _models  # noqa: F401  (every table is in the metadata)
from relai_bot.store.models import ChannelAddress, Resident

SMS = "sms"
# Taken from the resident who consented more recently, as they are (None included)
CONSENT_FIELDS = ("consent_at", "opportunities", "opportunities_at", "stopped_at", "language")
# Taken from the more recent one unless they have none
PROFILE_FIELDS = ("district_id", "age_bracket", "situation", "display_name")

LinkOutcome = Literal["added", "already", "merged"]


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    phone: str
    resident_id: int
    # The resident absorbed by a merge, and how many rows moved per table
    merged_id: int | None = None
    moved: dict[str, int] | None = None


def _resident_columns() -> list[tuple[Table, str]]:
    """(table, column) of every column that points at a resident, the resident table aside."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name == Resident.__tablename__:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == Resident.__tablename__:
                found.append((table, fk.parent.name))
    return found


def has_phone(session: Session, resident_id: int) -> bool:
    """Does the resident have an SMS address (a number we may write to)?"""
    row = session.exec(
        select(ChannelAddress.id).where(ChannelAddress.resident_id == resident_id, ChannelAddress.channel == SMS)
    ).first()
    return row is not None


def link_phone(session: Session, resident_id: int, phone_e164: str, now: datetime) -> LinkResult:
    """Make `phone_e164` an SMS address of the resident, merging whoever held it before into them."""
    phone = normalise_phone(phone_e164)
    if phone is None:
        raise ValueError("not a valid phone number")
    keep = get_resident(session, resident_id)
    row = session.exec(
        select(ChannelAddress).where(ChannelAddress.channel == SMS, ChannelAddress.address == phone)
    ).first()
    if row is None:
        session.add(ChannelAddress(resident_id=resident_id, channel=SMS, address=phone, created_at=now))
        session.flush()
        return LinkResult("added", phone, resident_id)
    if row.resident_id == resident_id:
        return LinkResult("already", phone, resident_id)
    other = get_resident(session, row.resident_id)
    moved = merge_residents(session, keep, other)
    return LinkResult("merged", phone, resident_id, merged_id=row.resident_id, moved=moved)


def merge_residents(session: Session, keep: Resident, other: Resident) -> dict[str, int]:
    """Move everything of `other` to `keep`, settle consents and profile, delete `other`."""
    assert keep.id is not None and other.id is not None and keep.id != other.id
    newer, older = (keep, other) if keep.consent_at >= other.consent_at else (other, keep)
    values = {name: getattr(newer, name) for name in CONSENT_FIELDS}
    for name in PROFILE_FIELDS:
        value = getattr(newer, name)
        values[name] = value if value is not None else getattr(older, name)
    values["last_seen_at"] = max(keep.last_seen_at, other.last_seen_at)
    values["created_at"] = min(keep.created_at, other.created_at)
    other_id = other.id
    session.expunge(other)
    moved: dict[str, int] = {}
    for table, column in _resident_columns():
        result = session.exec(update(table).where(table.c[column] == other_id).values({column: keep.id}))
        if result.rowcount:
            moved[table.name] = moved.get(table.name, 0) + result.rowcount
    session.execute(delete(Resident).where(col(Resident.id) == other_id))
    for name, value in values.items():
        setattr(keep, name, value)
    reachable = session.exec(
        select(ChannelAddress).where(
            ChannelAddress.resident_id == keep.id,
            col(ChannelAddress.unreachable_at).is_(None),
        )
    ).first()
    keep.unreachable_at = None if reachable is not None else keep.unreachable_at
    session.add(keep)
    session.flush()
    return moved
