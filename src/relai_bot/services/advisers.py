"""Advisers' own contact: the Telegram chat where they get the morning digest and alerts."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from relai_bot.services.errors import NotFound
from relai_bot.store.models import Adviser, AdviserAddress, id_of

ADVISER_CHANNELS = ("telegram", "sms")


def link_adviser(session: Session, *, code: str, channel: str, address: str, now: datetime) -> AdviserAddress:
    """Link (or re-link) an adviser's account on a channel. A staff action: CLI now, back-office later."""
    if channel not in ADVISER_CHANNELS:
        raise ValueError(f"channel must be one of {ADVISER_CHANNELS}")
    adviser = session.exec(select(Adviser).where(Adviser.code == code)).first()
    if adviser is None:
        raise NotFound(f"adviser {code}")
    row = session.exec(
        select(AdviserAddress).where(AdviserAddress.adviser_id == adviser.id, AdviserAddress.channel == channel)
    ).first()
    if row is None:
        row = AdviserAddress(adviser_id=id_of(adviser), channel=channel, address=address, created_at=now)
    else:
        row.address = address
    session.add(row)
    session.flush()
    return row
