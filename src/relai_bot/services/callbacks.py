"""Call-back requests: a resident asks a person to phone them; staff see the list."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from relai_bot.store.models import CallbackRequest

PREFERRED_TIMES = ("matin", "apres-midi", "indifferent")


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
