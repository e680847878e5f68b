"""The delivery engine's tables: the outbox, broadcasts, the waitlist and advisers' linked accounts.

Everything the service sends on its own initiative is one `OutboxMessage` row per recipient and message;
the outbox worker claims due rows with a lease, so a crash loses nothing (see relai_bot.delivery).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from relai_bot.store.types import UTCDateTime

# notification and digest go to advisers; notice tells a resident the service changed their appointment
# reply: a conversation turn's replies, written in the turn's transaction and sent after its commit
# (services.reply_journal); it needs no resident (someone who has not said yes yet gets replies too)
OUTBOX_KINDS = ("reply", "reminder", "broadcast", "notification", "waitlist_offer", "digest", "notice")
OUTBOX_STATUSES = ("pending", "sending", "sent", "delivered", "failed", "skipped")
# Lower goes first: a reply before anything, a reminder never waits behind a broadcast
PRIORITIES = {
    "reply": -1,
    "reminder": 0,
    "waitlist_offer": 1,
    "notice": 1,
    "notification": 2,
    "digest": 3,
    "broadcast": 5,
}
BROADCAST_STATUSES = ("pending_approval", "queued", "interrupted")
WAITLIST_STATUSES = ("waiting", "offered", "accepted", "expired", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


RECIPIENT_RULE = "resident_id IS NOT NULL OR adviser_id IS NOT NULL OR kind = 'reply'"


class Broadcast(SQLModel, table=True):
    """A message staff send to the residents of some districts who said yes to opportunities.

    Its content is data: a title, the staff's text in French (it may hold placeholders, see
    services/broadcast_text.py), optionally the same text in other languages (`texts`, by language code:
    {"rcf": "..."}; a resident who chose one of them gets it, see services.broadcast_content.text_for),
    and optionally a link, a scheme, a venue and a date; the template
    broadcast/message lays them out for each channel. `status` is stored as one of BROADCAST_STATUSES:
    pending_approval (nothing enqueued until an admin other than the author approves), queued (its outbox
    rows exist), interrupted (its pending rows were skipped). Whether a queued broadcast is scheduled,
    sending or done is read from its outbox rows (services.broadcast_reports.broadcast_state).
    """

    __tablename__ = "broadcast"
    __table_args__ = (CheckConstraint(_in("status", BROADCAST_STATUSES), name="ck_broadcast_status"),)

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    # The staff text in other languages than French, by language code ({"rcf": "..."}; {}: French only)
    texts: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    title: str | None = Field(default=None, max_length=120)
    link: str | None = Field(default=None, max_length=500)
    scheme_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("scheme.id", ondelete="SET NULL"), nullable=True)
    )
    venue_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("venue.id", ondelete="SET NULL"), nullable=True)
    )
    # When the event the broadcast announces takes place (not when the broadcast goes)
    event_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # District codes, and the filters on the residents' answers ({"age_brackets": [...], "situations": [...]})
    districts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    filters: dict[str, list[str]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="queued", max_length=16, sa_column_kwargs={"server_default": "queued"})
    # When staff asked it to go (None: now); quiet hours, Sundays and holidays may hold it later still
    scheduled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    author_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True)
    )
    approved_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True)
    )
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    interrupted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Who was enqueued, and who was left out and why ({"stopped": 3, "weekly_cap": 1, ...})
    recipients: int = 0
    excluded: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxMessage(SQLModel, table=True):
    """One message to one recipient, sent by the outbox worker (never twice once the provider accepted it)."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_message_key"),
        CheckConstraint(_in("kind", OUTBOX_KINDS), name="ck_outbox_message_kind"),
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="ck_outbox_message_status"),
        CheckConstraint(RECIPIENT_RULE, name="ck_outbox_message_recipient"),
        Index("ix_outbox_message_due", "channel", "status", "priority", "next_attempt_at"),
        # A turn looks for its address's replies still waiting (after a crash or an outage) to send first.
        # (A partial index would be smaller, but its dialect options load PostgreSQL's dialect at import.)
        Index("ix_outbox_message_replies", "channel", "address", "kind"),
        Index("ix_outbox_message_resident_kind", "resident_id", "kind", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Idempotency: enqueueing the same key twice makes one row ("reminder:42:1d@18:00")
    key: str = Field(max_length=160)
    kind: str = Field(max_length=16)
    priority: int = 5
    resident_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("resident.id", ondelete="CASCADE"), nullable=True)
    )
    adviser_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("adviser.id", ondelete="CASCADE"), nullable=True)
    )
    appointment_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("appointment.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    broadcast_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("broadcast.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    # A message with buttons puts the recipient's conversation at this step when it goes out, so that a
    # button press is an ordinary answer (the engine renders text and options then)
    target_flow: str | None = Field(default=None, max_length=40)
    target_step: str | None = Field(default=None, max_length=60)
    target_data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # kind reply: the replies to send, in order (turns.reply_data); cleared once they went
    replies: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    # When it should go (reminders: the offset's time); next_attempt_at moves with retries and quiet hours
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Past this moment it is of no use any more (skipped)
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The lease: an outbox worker that claimed the row owns it until then; afterwards another may take it
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    provider_message_id: str | None = Field(default=None, max_length=80, index=True)
    error: str | None = Field(default=None, max_length=200)
    error_code: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class WaitlistEntry(SQLModel, table=True):
    """A resident waiting for a place: in one full slot, or in any next slot of a scheme."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (
        CheckConstraint(_in("status", WAITLIST_STATUSES), name="ck_waitlist_entry_status"),
        CheckConstraint("slot_id IS NOT NULL OR scheme_id IS NOT NULL", name="ck_waitlist_entry_target"),
        Index("ix_waitlist_entry_status", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(sa_column=Column(Integer, ForeignKey("resident.id", ondelete="CASCADE"), nullable=False))
    slot_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("slot.id", ondelete="CASCADE"), nullable=True)
    )
    scheme_id: int | None = Field(default=None, foreign_key="scheme.id")
    channel: str = Field(max_length=16)
    status: str = Field(default="waiting", max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The place currently offered, and until when the resident may take it
    offered_slot_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("slot.id", ondelete="SET NULL"), nullable=True)
    )
    offered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    offer_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class AdviserAddress(SQLModel, table=True):
    """An adviser's own account on a channel (their Telegram chat), for the digest and notifications."""

    __tablename__ = "adviser_address"
    __table_args__ = (UniqueConstraint("adviser_id", "channel", name="uq_adviser_address_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    adviser_id: int = Field(sa_column=Column(Integer, ForeignKey("adviser.id", ondelete="CASCADE"), nullable=False))
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
