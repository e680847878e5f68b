"""The back-office's simulator: each staff member talks to the bot as their own test resident.

The simulator's address space is its own: an address is (a simulated channel, "staff-<account id>"),
made here from the signed-in account, never taken from a form, so no staff member can reach a real
resident's conversation (nor a colleague's test one). The resident who consents there is a test resident
(services.residents.create_resident). "Recommencer" erases them with the normal erasure and forgets the
conversation, as if the person had never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from relai_bot.services import audit, residents
from relai_bot.store.models import Conversation, MessageLog, id_of
from relai_bot.turns import SIMULATED_CHANNELS

ADDRESS_PREFIX = "staff-"
# The transcript shows this many messages at most (the newest)
TRANSCRIPT_LIMIT = 200


class NotSimulated(ValueError):
    """A channel that is not one of the simulator's."""


def address_of(account_id: int) -> str:
    """The simulator's address of a staff member (the same on every simulated channel)."""
    return f"{ADDRESS_PREFIX}{account_id}"


def _check(channel: str) -> None:
    if channel not in SIMULATED_CHANNELS:
        raise NotSimulated(channel)


@dataclass(frozen=True)
class Line:
    """One message of the transcript, from the message log."""

    id: int
    direction: str  # "in": the staff member as the resident; "out": the bot
    body: str
    at: datetime
    segments: int | None = None
    encoding: str | None = None


@dataclass
class Simulation:
    """Where a staff member's test conversation stands on one simulated channel."""

    channel: str
    address: str
    resident_id: int | None
    lines: list[Line]
    # The conversation row (None before the first message or after a reset); its options are the
    # buttons on offer
    conversation: Conversation | None
    # The test resident's language (None before consent)
    language: str | None = None


def load(session: Session, channel: str, account_id: int) -> Simulation:
    """The staff member's test conversation on `channel`: the transcript of their test resident (if they
    consented) and the conversation row."""
    _check(channel)
    address = address_of(account_id)
    resident = residents.find_by_address(session, channel, address)
    conversation = session.exec(
        select(Conversation).where(Conversation.channel == channel, Conversation.address == address)
    ).first()
    lines: list[Line] = []
    if resident is not None and resident.test:
        rows = session.exec(
            select(MessageLog)
            .where(MessageLog.resident_id == id_of(resident))
            .order_by(col(MessageLog.id).desc())
            .limit(TRANSCRIPT_LIMIT)
        ).all()
        lines = [
            Line(id_of(row), row.direction, row.body, row.created_at, row.segments, row.encoding)
            for row in reversed(rows)
        ]
    if conversation is not None:
        session.expunge(conversation)
    language = resident.language if resident is not None else None
    resident_id = resident.id if resident is not None else None
    return Simulation(channel, address, resident_id, lines, conversation, language)


def reset(session: Session, channel: str, account_id: int, *, now: datetime) -> int | None:
    """Start again: the test resident is erased (residents.erase_resident: their places go back) and the
    conversation forgotten. Returns the erased resident's id (None: nobody had consented yet)."""
    _check(channel)
    address = address_of(account_id)
    resident = residents.find_by_address(session, channel, address)
    erased: int | None = None
    if resident is not None:
        if not resident.test:  # never: the simulator's addresses belong to test residents only
            raise NotSimulated(f"resident {resident.id} is not a test resident")
        erased = id_of(resident)
        residents.erase_resident(session, erased, now)
    session.exec(delete(Conversation).where(col(Conversation.channel) == channel, col(Conversation.address) == address))
    audit.record(
        session,
        account_id,
        audit.SIMULATOR_RESET,
        f"resident:{erased}" if erased is not None else "",
        {"channel": channel},
        at=now,
    )
    return erased
