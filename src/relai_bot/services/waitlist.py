"""The waitlist: residents waiting for a place in a full slot, or in any next slot of a scheme.

When a place is free (a cancellation, a move), a scheduler tick offers it to the first resident waiting
for it, with a time limit; past the limit the offer lapses and the place goes to the next one. Offers
are rows of the outbox (kind waitlist_offer) that put the resident's conversation at WAITLIST_OFFER.
Two instances making offers at once are serialised by a lock on the slot row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from relai_bot.entry_points import WAITLIST_OFFER
from relai_bot.services import booking, outbox
from relai_bot.services.errors import NotFound
from relai_bot.store.models import AdviserScheme, Appointment, OutboxMessage, Slot, WaitlistEntry, id_of

# An offer needs this much time before the slot for the resident to get there
OFFER_LEAD = booking.BOOKING_LEAD


def join(
    session: Session,
    *,
    resident_id: int,
    channel: str,
    now: datetime,
    slot_id: int | None = None,
    scheme_id: int | None = None,
) -> WaitlistEntry:
    """Wait for a place (idempotent: joining the same list twice keeps the first place in line)."""
    if slot_id is None and scheme_id is None:
        raise NotFound("a slot or a scheme to wait for")
    existing = session.exec(
        select(WaitlistEntry).where(
            WaitlistEntry.resident_id == resident_id,
            col(WaitlistEntry.status).in_(("waiting", "offered")),
            WaitlistEntry.slot_id == slot_id if slot_id is not None else col(WaitlistEntry.slot_id).is_(None),
            WaitlistEntry.scheme_id == scheme_id if scheme_id is not None else col(WaitlistEntry.scheme_id).is_(None),
        )
    ).first()
    if existing is not None:
        return existing
    entry = WaitlistEntry(
        resident_id=resident_id, slot_id=slot_id, scheme_id=scheme_id, channel=channel, created_at=now
    )
    session.add(entry)
    session.flush()
    return entry


def leave(session: Session, *, entry_id: int, resident_id: int, now: datetime) -> None:
    session.execute(
        update(WaitlistEntry)
        .where(
            col(WaitlistEntry.id) == entry_id,
            col(WaitlistEntry.resident_id) == resident_id,
            col(WaitlistEntry.status).in_(("waiting", "offered")),
        )
        .values(status="cancelled", closed_at=now)
    )


def expire_offers(session: Session, now: datetime) -> int:
    """Offers past their time limit lapse (the place goes to the next resident)."""
    result = session.exec(
        update(WaitlistEntry)
        .where(col(WaitlistEntry.status) == "offered", col(WaitlistEntry.offer_expires_at) <= now)
        .values(status="expired", closed_at=now)
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class Offer:
    entry_id: int
    slot_id: int


def _open_slots(session: Session, now: datetime) -> list[Slot]:
    """Future slots with a free place that someone waits for (directly or through a scheme)."""
    wanted = select(WaitlistEntry.slot_id, WaitlistEntry.scheme_id).where(WaitlistEntry.status == "waiting")
    waiting = session.exec(wanted).all()
    if not waiting:
        return []
    slot_ids = {s for s, _ in waiting if s is not None}
    scheme_ids = {c for _, c in waiting if c is not None}
    conditions = [col(Slot.id).in_(slot_ids)] if slot_ids else []
    if scheme_ids:
        advisers = select(AdviserScheme.adviser_id).where(
            col(AdviserScheme.scheme_id).in_(scheme_ids),
            col(AdviserScheme.scheme_id).in_(booking.bookable_scheme_ids()),
        )
        conditions.append(col(Slot.adviser_id).in_(advisers))
    return list(
        session.exec(
            select(Slot)
            .where(
                Slot.booked < Slot.capacity,
                col(Slot.closed_at).is_(None),
                Slot.starts_at > now + OFFER_LEAD,
                col(Slot.venue_id).in_(booking.bookable_venue_ids()),  # never a place the commune did not verify
                or_(*conditions),
            )
            .order_by(col(Slot.starts_at))
        )
    )


def make_offers(session: Session, now: datetime, *, minutes: int) -> list[Offer]:
    """Offer every free place someone waits for to the first in line; enqueue the offers. Idempotent."""
    offers: list[Offer] = []
    for slot in _open_slots(session, now):
        # Lock the slot (PostgreSQL): two instances never offer the same place twice
        locked = session.exec(select(Slot).where(Slot.id == slot.id).with_for_update()).one()
        outstanding = session.exec(
            select(func.count()).where(WaitlistEntry.status == "offered", WaitlistEntry.offered_slot_id == slot.id)
        ).one()
        free = locked.capacity - locked.booked - outstanding
        if free <= 0:
            continue
        schemes = select(AdviserScheme.scheme_id).where(
            AdviserScheme.adviser_id == locked.adviser_id,
            col(AdviserScheme.scheme_id).in_(booking.bookable_scheme_ids()),
        )
        candidates = session.exec(
            select(WaitlistEntry)
            .where(
                WaitlistEntry.status == "waiting",
                or_(
                    col(WaitlistEntry.slot_id) == locked.id,
                    and_(col(WaitlistEntry.slot_id).is_(None), col(WaitlistEntry.scheme_id).in_(schemes)),
                ),
            )
            .order_by(col(WaitlistEntry.created_at), col(WaitlistEntry.id))
        ).all()
        for entry in candidates:
            if free <= 0:
                break
            if _busy_then(session, entry.resident_id, locked):
                continue
            offer = _offer(session, entry, locked, now, minutes)
            if offer is not None:
                offers.append(offer)
                free -= 1
    return offers


def _busy_then(session: Session, resident_id: int, slot: Slot) -> bool:
    return bool(
        session.exec(
            select(func.count()).where(
                Appointment.resident_id == resident_id,
                Appointment.status == "booked",
                Appointment.starts_at < slot.ends_at,
                Appointment.ends_at > slot.starts_at,
            )
        ).one()
    )


def _offer(session: Session, entry: WaitlistEntry, slot: Slot, now: datetime, minutes: int) -> Offer | None:
    expires = min(now + timedelta(minutes=minutes), slot.starts_at - OFFER_LEAD)
    taken = session.exec(
        update(WaitlistEntry)
        .where(col(WaitlistEntry.id) == entry.id, col(WaitlistEntry.status) == "waiting")
        .values(status="offered", offered_slot_id=slot.id, offered_at=now, offer_expires_at=expires)
    )
    if not taken.rowcount:
        return None
    address = outbox.best_address(session, entry.resident_id)
    if address is not None:
        outbox.enqueue(
            session,
            key=f"waitlist:{entry.id}:{slot.id}",
            kind="waitlist_offer",
            channel=address.channel,
            address=address.address,
            now=now,
            resident_id=entry.resident_id,
            target=WAITLIST_OFFER.target(waitlist_entry_id=entry.id, offered_slot_id=slot.id),
            expires_at=expires,
        )
    return Offer(id_of(entry), id_of(slot))


def offer_skip_reason(session: Session, row: OutboxMessage, now: datetime) -> str | None:
    """Why an offer about to go is of no use any more (None: send it)."""
    entry = session.get(WaitlistEntry, row.target_data.get("waitlist_entry_id"))
    if entry is None or entry.status != "offered" or entry.offered_slot_id != row.target_data.get("offered_slot_id"):
        return "offer_closed"
    if entry.offer_expires_at is not None and entry.offer_expires_at <= now:
        return "offer_expired"
    return None


def current_offer(session: Session, entry_id: int, resident_id: int, now: datetime) -> tuple[WaitlistEntry, Slot]:
    entry = session.get(WaitlistEntry, entry_id, populate_existing=True)
    if entry is None or entry.resident_id != resident_id or entry.status != "offered" or entry.offered_slot_id is None:
        raise NotFound(f"waitlist offer {entry_id}")
    if entry.offer_expires_at is not None and entry.offer_expires_at <= now:
        raise NotFound(f"waitlist offer {entry_id} lapsed")
    slot = session.get(Slot, entry.offered_slot_id)
    if slot is None:
        raise NotFound(f"slot {entry.offered_slot_id}")
    return entry, slot


def accept(session: Session, *, entry_id: int, resident_id: int, channel: str, now: datetime) -> Appointment:
    """Take the offered place (SlotFull if someone booked it meanwhile through the ordinary flow)."""
    entry, slot = current_offer(session, entry_id, resident_id, now)
    appointment = booking.book_slot(
        session,
        resident_id=resident_id,
        slot_id=id_of(slot),
        scheme_id=entry.scheme_id,
        channel=channel,
        now=now,
    )
    entry.status, entry.closed_at = "accepted", now
    session.add(entry)
    return appointment


def decline(session: Session, *, entry_id: int, resident_id: int, now: datetime) -> None:
    """No thanks: the place goes to the next one, and the resident leaves this list."""
    leave(session, entry_id=entry_id, resident_id=resident_id, now=now)
