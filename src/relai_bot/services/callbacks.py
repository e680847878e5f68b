"""Call-back requests: a resident asks a person to phone them; staff see the list of their districts and mark
a request done once they called back, with a note if they wish ("rappelée, rendez-vous pris mardi"). The
audit log keeps who and when, and whether there is a note, never the note itself; the note is part of the
resident's data (shown on their page, in their export, erased with them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session, col, select

from relai_bot.services import audit
from relai_bot.services.accounts import Account
from relai_bot.services.errors import DomainError, NotFound
from relai_bot.services.phones import display_phone
from relai_bot.services.staff_residents import resident_scope
from relai_bot.store.models import CallbackRequest, ChannelAddress, District, Resident, Scheme, StaffUser, id_of

PREFERRED_TIMES = ("matin", "apres-midi", "indifferent")
Status = Literal["open", "done"]
OPEN: Status = "open"
DONE: Status = "done"
# The most handled requests a page lists (the newest first)
DONE_LIMIT = 200
# The longest note staff may keep on a handled request
NOTE_MAX = 500


class AlreadyHandled(DomainError):
    """Someone marked this call-back done already."""


class NoteTooLong(DomainError):
    """A handled request's note is over NOTE_MAX characters."""


@dataclass(frozen=True)
class CallbackView:
    """A call-back request as staff read it (the number formatted for display, the topic named)."""

    id: int
    resident_id: int
    name: str | None
    district_name: str | None
    phone: str | None
    preferred_time: str
    topic: str | None
    status: str
    created_at: datetime
    handled_at: datetime | None
    handled_by: str | None
    handled_note: str | None


def request_callback(
    session: Session,
    *,
    resident_id: int,
    phone: str | None,
    preferred_time: str,
    topic: str | None,
    now: datetime,
) -> CallbackRequest:
    if preferred_time not in PREFERRED_TIMES:
        raise ValueError(f"preferred_time must be one of {PREFERRED_TIMES}")
    request = CallbackRequest(
        resident_id=resident_id, phone=phone, preferred_time=preferred_time, topic=topic, created_at=now
    )
    session.add(request)
    session.flush()
    return request


def list_callbacks(session: Session, account: Account, *, status: Status = OPEN) -> list[CallbackView]:
    """The requests of the residents this account may see: open ones oldest first (who waits longest comes
    first), done ones most recently handled first (the last `DONE_LIMIT`)."""
    query = (
        select(CallbackRequest)
        .join(Resident, col(Resident.id) == CallbackRequest.resident_id)
        .where(resident_scope(session, account), CallbackRequest.status == status)
    )
    if status == OPEN:
        query = query.order_by(col(CallbackRequest.created_at), col(CallbackRequest.id))
    else:
        query = query.order_by(col(CallbackRequest.handled_at).desc(), col(CallbackRequest.id).desc())
        query = query.limit(DONE_LIMIT)
    return _views(session, list(session.exec(query)))


def resident_callbacks(session: Session, account: Account, resident_id: int) -> list[CallbackView]:
    """One resident's requests, newest first (empty when the resident is out of reach)."""
    query = (
        select(CallbackRequest)
        .join(Resident, col(Resident.id) == CallbackRequest.resident_id)
        .where(resident_scope(session, account), CallbackRequest.resident_id == resident_id)
        .order_by(col(CallbackRequest.created_at).desc(), col(CallbackRequest.id).desc())
    )
    return _views(session, list(session.exec(query)))


def mark_done(session: Session, account: Account, callback_id: int, *, now: datetime, note: str = "") -> CallbackView:
    """The staff member called the resident back, with an optional note. NotFound for a request out of reach
    (or none); AlreadyHandled when it was done already (by them or someone else); NoteTooLong."""
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise NoteTooLong(str(len(note)))
    request = session.get(CallbackRequest, callback_id)
    resident = session.get(Resident, request.resident_id) if request is not None else None
    if request is None or resident is None or not account.may_reach_resident(resident.district_id):
        raise NotFound(f"callback {callback_id}")
    if request.status != OPEN:
        raise AlreadyHandled(str(callback_id))
    request.status = DONE
    request.handled_at = now
    request.handled_by_id = account.id
    request.handled_note = note or None
    session.add(request)
    session.flush()
    detail = {"note": True} if note else None  # whether there is one: the note itself may name people
    audit.record(session, account.id, audit.CALLBACK_HANDLED, f"callback {callback_id}", detail, at=now)
    (view,) = _views(session, [request])
    return view


def _views(session: Session, requests: list[CallbackRequest]) -> list[CallbackView]:
    resident_ids = sorted({r.resident_id for r in requests})
    people = {id_of(r): r for r in session.exec(select(Resident).where(col(Resident.id).in_(resident_ids)))}
    districts = {id_of(d): d.name for d in session.exec(select(District))}
    sms = dict(
        session.exec(
            select(ChannelAddress.resident_id, ChannelAddress.address).where(
                col(ChannelAddress.resident_id).in_(resident_ids), ChannelAddress.channel == "sms"
            )
        ).all()
    )
    codes = sorted({r.topic for r in requests if r.topic})
    schemes = {s.code: s.name for s in session.exec(select(Scheme).where(col(Scheme.code).in_(codes)))}
    handlers = sorted({r.handled_by_id for r in requests if r.handled_by_id is not None})
    staff = {id_of(u): u.name for u in session.exec(select(StaffUser).where(col(StaffUser.id).in_(handlers)))}
    views = []
    for request in requests:
        resident = people.get(request.resident_id)
        district_id = resident.district_id if resident is not None else None
        views.append(
            CallbackView(
                id=id_of(request),
                resident_id=request.resident_id,
                name=resident.display_name if resident is not None else None,
                district_name=districts.get(district_id) if district_id is not None else None,
                phone=display_phone(request.phone or sms.get(request.resident_id)),
                preferred_time=request.preferred_time,
                topic=schemes.get(request.topic, request.topic) if request.topic else None,
                status=request.status,
                created_at=request.created_at,
                handled_at=request.handled_at,
                handled_by=staff.get(request.handled_by_id) if request.handled_by_id is not None else None,
                handled_note=request.handled_note,
            )
        )
    return views
