"""Messages to advisers: a reminder that reached no channel. Advisers are reached on their linked account."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from relai_bot.services import outbox, reminders
from relai_bot.store.models import AdviserAddress, Appointment, Resident
from relai_bot.wiring import Runtime

log = logging.getLogger(__name__)


def adviser_address(session: Session, adviser_id: int) -> AdviserAddress | None:
    """The adviser's linked account, Telegram first."""
    rows = session.exec(select(AdviserAddress).where(AdviserAddress.adviser_id == adviser_id)).all()
    usable = [r for r in rows if r.channel in outbox.CHANNEL_PREFERENCE]
    usable.sort(key=lambda r: outbox.CHANNEL_PREFERENCE.index(r.channel))
    return usable[0] if usable else None


def notify_adviser(
    runtime: Runtime,
    session: Session,
    adviser_id: int,
    *,
    key: str,
    kind: str,
    template: str,
    context: dict[str, Any],
    now: datetime,
) -> bool:
    """Enqueue a message to an adviser's linked account; False (and a log line) when they have none."""
    address = adviser_address(session, adviser_id)
    if address is None:
        log.warning(
            "adviser %s has no linked account: %s not sent (key=%s)",
            adviser_id,
            kind,
            key.split(":")[0],
            extra={"adviser_id": adviser_id, "kind": kind},
        )
        return False
    body = runtime.renderer.render(template, language=None, channel=address.channel, context=context)
    return outbox.enqueue(
        session,
        key=key,
        kind=kind,
        channel=address.channel,
        address=address.address,
        now=now,
        body=body,
        adviser_id=adviser_id,
    )


def notify_unreached(runtime: Runtime, session: Session, appointment_id: int, now: datetime) -> None:
    """A reminder reached no channel: the appointment's adviser is told (once per appointment)."""
    appointment = session.get(Appointment, appointment_id)
    adviser_id = reminders.adviser_of(session, appointment_id)
    if appointment is None or adviser_id is None:
        return
    resident = session.get(Resident, appointment.resident_id)
    log.warning(
        "reminder reached no channel appointment=%s adviser=%s",
        appointment_id,
        adviser_id,
        extra={"appointment_id": appointment_id, "adviser_id": adviser_id},
    )
    notify_adviser(
        runtime,
        session,
        adviser_id,
        key=f"unreached:{appointment_id}",
        kind="notification",
        template="staff/adviser_unreached",
        context={
            "resident_name": resident.display_name if resident else None,
            "resident_id": appointment.resident_id,
            "starts_at": appointment.starts_at,
        },
        now=now,
    )
