"""The conversation's rows: the locked conversation row, and the log rows of its replies (services.message_log)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from relai_bot.services import message_log, residents
from relai_bot.store.db import insert_new
from relai_bot.store.models import Conversation, Resident
from relai_bot.turns import Inbound, Reply


def lock_conversation(session: Session, channel: str, address: str, now: datetime) -> tuple[Conversation, bool]:
    """The address's conversation row, created if needed and locked for this turn (FOR UPDATE on PostgreSQL).

    Returns (row, created).
    """
    row = {
        "channel": channel,
        "address": address,
        "flow": "",
        "step": "",
        "data": {},
        "stack": [],
        "options": [],
        "turn": 0,
        "updated_at": now,
    }
    created = session.execute(insert_new(session, Conversation, row).returning(col(Conversation.id))).first()
    conversation = session.exec(
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.address == address)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return conversation, created is not None


def resident_of(session: Session, conversation: Conversation, inbound: Inbound) -> Resident | None:
    if conversation.resident_id is not None:
        resident = session.get(Resident, conversation.resident_id)
        if resident is not None:
            return resident
    resident = residents.find_by_address(session, inbound.channel, inbound.address)
    conversation.resident_id = resident.id if resident else None
    return resident


def save(session: Session, conversation: Conversation, now: datetime) -> None:
    conversation.last_inbound_at = now
    conversation.updated_at = now
    flag_modified(conversation, "data")  # changed in place by actions and choices
    session.add(conversation)


def forget(session: Session, conversation: Conversation) -> None:
    """Consent refused or data erased: not even the position in the conversation is kept."""
    session.expunge(conversation)
    session.execute(
        delete(Conversation).where(
            col(Conversation.channel) == conversation.channel,
            col(Conversation.address) == conversation.address,
        )
    )


def log_replies(session: Session, resident: Resident, channel: str, replies: list[Reply], now: datetime) -> None:
    """Log what the resident is sent; each reply learns its log row (channels record delivery on it)."""
    assert resident.id is not None
    bodies = [reply.text for reply in replies]
    ids = message_log.log_outbound(session, resident_id=resident.id, channel=channel, bodies=bodies, now=now)
    for reply, log_id in zip(replies, ids, strict=True):
        reply.log_id = log_id
