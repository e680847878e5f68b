"""Conversation state, inbound de-duplication and the message log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from relai_bot.store.types import UTCDateTime


class Conversation(SQLModel, table=True):
    """Where one channel address stands in a flow. Kept before consent only while onboarding runs."""

    __tablename__ = "conversation"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_conversation_address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    resident_id: int | None = Field(default=None, foreign_key="resident.id", index=True)
    flow: str = Field(max_length=40)
    step: str = Field(max_length=60)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    stack: list[list[Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    options: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    turn: int = 0
    last_inbound_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ProcessedMessage(SQLModel, table=True):
    """Provider message ids already handled (a provider may deliver the same message twice)."""

    __tablename__ = "processed_message"

    channel: str = Field(max_length=16, primary_key=True)
    external_id: str = Field(max_length=80, primary_key=True)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class MessageLog(SQLModel, table=True):
    """Messages to and from consenting residents (kept for the retention period)."""

    __tablename__ = "message_log"
    __table_args__ = (UniqueConstraint("channel", "provider_message_id", name="uq_message_log_provider_id"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    channel: str = Field(max_length=16)
    direction: str = Field(max_length=3)  # "in" or "out"
    body: str
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    provider_message_id: str | None = Field(default=None, max_length=80)
    encoding: str | None = Field(default=None, max_length=8)
    segments: int | None = None
    status: str | None = Field(default=None, max_length=16)
    error_code: str | None = Field(default=None, max_length=16)
