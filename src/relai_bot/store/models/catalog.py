"""Schemes (dispositifs) with their structured eligibility, and the venues where advisers meet residents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from relai_bot.store.types import UTCDateTime


class Venue(SQLModel, table=True):
    __tablename__ = "venue"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True, index=True)
    name: str = Field(max_length=160)
    district_id: int | None = Field(default=None, foreign_key="district.id")
    town: str = Field(default="La Possession", max_length=80)
    address: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    remote: bool = False
    lat: float | None = None
    lon: float | None = None
    verified: bool = False
    # For residents: when it is open ("du lundi au vendredi, 8 h - 12 h") and how to get in (step-free…)
    opening_hours: str | None = Field(default=None, max_length=200)
    accessibility: str | None = Field(default=None, max_length=300)
    # When someone of the commune last checked the address and hours
    checked_on: date | None = None


class Scheme(SQLModel, table=True):
    __tablename__ = "scheme"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True, index=True)
    name: str = Field(max_length=160)
    acronym: str | None = Field(default=None, max_length=24)
    summary: str = Field(max_length=200)
    details: str
    # The name, summary and details in the other languages residents read (the columns above are French):
    # {"rcf": {"name": ..., "summary": ..., "details": ...}}; a field missing there is shown in French
    # (services.schemes.scheme_text, the one reader)
    texts: dict[str, dict[str, str]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    min_age: int | None = None
    max_age: int | None = None
    # With a recognised disability (RQTH) the upper age becomes disabled_max_age, or goes (disabled_any_age)
    disabled_max_age: int | None = None
    disabled_any_age: bool = False
    # Ages outside min_age..max_age where the rules make exceptions the questionnaire cannot check (a young
    # parent, a young worker): [{"min_age": 18, "max_age": 24}]; there a person may fit (MAYBE), not NO
    age_exceptions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The audience (services.eligibility): any one of these situations, or of the other conditions, suffices
    situations: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The rules are for people without work: someone employed is out, whatever else they are
    without_work: bool = False
    criteria: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Situations the rules make a priority (a quota, a higher aid rate)
    priority: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    goals: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # None: every district; otherwise the district codes where the scheme applies
    districts: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    available_locally: bool = True
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    operator: str = Field(max_length=200)
    source_url: str | None = Field(default=None, max_length=400)
    verified: bool = False
    # Where each rule comes from: [{"label": "Code du travail, art. L5131-6", "url": "https://...",
    # "rules": ["age", "situations"]}] (the rules it backs: services.eligibility.RULE_NAMES)
    sources: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # A money figure ("jusqu'à 528 € par mois"): shown to residents only until `review_by`
    amount: str | None = Field(default=None, max_length=300)
    checked_on: date | None = None
    review_by: date | None = None


class SchemeVenue(SQLModel, table=True):
    __tablename__ = "scheme_venue"

    scheme_id: int = Field(foreign_key="scheme.id", primary_key=True)
    venue_id: int = Field(foreign_key="venue.id", primary_key=True)


class AdviserScheme(SQLModel, table=True):
    __tablename__ = "adviser_scheme"

    adviser_id: int = Field(foreign_key="adviser.id", primary_key=True)
    scheme_id: int = Field(foreign_key="scheme.id", primary_key=True)


SCHEME_EVENT_KINDS = ("shown", "opened")


class SchemeEvent(SQLModel, table=True):
    """A scheme shown to a resident in a list of results, or opened for its details: the first steps of the
    dashboard's funnel (booked and seen come from the appointments). Test residents make none."""

    __tablename__ = "scheme_event"
    __table_args__ = (Index("ix_scheme_event_scheme_kind_at", "scheme_id", "kind", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    scheme_id: int = Field(sa_column=Column(Integer, ForeignKey("scheme.id", ondelete="CASCADE"), nullable=False))
    kind: str = Field(max_length=8)
    # Kept so one resident counts once; erasing the resident keeps the count (SET NULL)
    resident_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("resident.id", ondelete="SET NULL"), nullable=True)
    )
    district_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("district.id", ondelete="SET NULL"), nullable=True)
    )
    channel: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
