"""An adviser's private calendar feed (ICS): a secret token in its URL, kept only as its SHA-256, issued
again or revoked by the adviser (their own) or an administrator (any adviser), each change in the audit
log. The feed holds the adviser's appointments from `FEED_PAST` back to the booking horizon ahead."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from relai_bot.services import audit
from relai_bot.services.accounts import Account
from relai_bot.services.errors import NotFound
from relai_bot.staff.agenda_access import may_reach
from relai_bot.staff.agenda_views import CANCELLED
from relai_bot.store.models import Adviser, Appointment, Resident, Scheme, Slot, Venue, id_of

FEED_PAST = timedelta(days=30)


@dataclass(frozen=True)
class FeedAppointment:
    """What the feed tells of an appointment: never the resident's surname or phone number."""

    id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    scheme: str | None
    venue: str
    address: str | None
    first_name: str | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reachable_advisers(session: Session, account: Account) -> list[Adviser]:
    """The advisers whose feed this account manages: an administrator's all, an adviser's their own."""
    advisers = session.exec(select(Adviser).order_by(col(Adviser.name), col(Adviser.id)))
    return [a for a in advisers if _manages(account, id_of(a))]


def feed_adviser(session: Session, account: Account, adviser_id: int) -> Adviser:
    """NotFound when there is no such adviser or the account does not manage their feed."""
    adviser = session.get(Adviser, adviser_id)
    if adviser is None or not _manages(account, adviser_id):
        raise NotFound(f"adviser {adviser_id}")
    return adviser


def issue_token(session: Session, account: Account, adviser_id: int, *, now: datetime) -> str:
    """A new secret token for the adviser's feed (the one before stops working); shown once, kept hashed."""
    adviser = feed_adviser(session, account, adviser_id)
    action = audit.FEED_REGENERATED if adviser.ics_token_hash else audit.FEED_CREATED
    token = secrets.token_urlsafe(32)
    adviser.ics_token_hash = token_hash(token)
    adviser.ics_token_created_at = now
    session.add(adviser)
    session.flush()
    audit.record(session, account.id, action, f"adviser {adviser.code}", at=now)
    return token


def revoke_token(session: Session, account: Account, adviser_id: int, *, now: datetime) -> bool:
    """The feed stops working; False when there was none."""
    adviser = feed_adviser(session, account, adviser_id)
    if adviser.ics_token_hash is None:
        return False
    adviser.ics_token_hash = None
    adviser.ics_token_created_at = None
    session.add(adviser)
    session.flush()
    audit.record(session, account.id, audit.FEED_REVOKED, f"adviser {adviser.code}", at=now)
    return True


def adviser_by_token(session: Session, token: str) -> Adviser | None:
    """The adviser whose feed this token opens (looked up by its hash), or None."""
    if not token:
        return None
    return session.exec(select(Adviser).where(Adviser.ics_token_hash == token_hash(token))).first()


def feed_appointments(session: Session, adviser_id: int, *, now: datetime, horizon: timedelta) -> list[FeedAppointment]:
    """The adviser's appointments from FEED_PAST ago to `horizon` ahead, cancelled ones left out."""
    rows = session.exec(
        select(Appointment, Venue, Resident)
        .join(Slot, col(Slot.id) == Appointment.slot_id)
        .join(Venue, col(Venue.id) == Slot.venue_id)
        .join(Resident, col(Resident.id) == Appointment.resident_id)
        .where(
            Slot.adviser_id == adviser_id,
            col(Appointment.starts_at) >= now - FEED_PAST,
            col(Appointment.starts_at) <= now + horizon,
            col(Appointment.status).not_in(CANCELLED),
        )
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    ).all()
    ids = sorted({a.scheme_id for a, _, _ in rows if a.scheme_id is not None})
    schemes = {id_of(s): s.name for s in session.exec(select(Scheme).where(col(Scheme.id).in_(ids)))} if ids else {}
    return [
        FeedAppointment(
            id=id_of(appointment),
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            status=appointment.status,
            scheme=schemes.get(appointment.scheme_id) if appointment.scheme_id is not None else None,
            venue=venue.name,
            address=venue.address,
            first_name=resident.display_name,
        )
        for appointment, venue, resident in rows
    ]


def _manages(account: Account, adviser_id: int) -> bool:
    """The one agenda rule with no venue: administrators reach every adviser, an adviser their own."""
    return may_reach(account, adviser_id=adviser_id, venue_district_id=None)
