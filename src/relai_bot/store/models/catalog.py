"""Schemes (dispositifs) with their structured eligibility, and the venues where advisers meet residents."""

from __future__ import annotations

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


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


class Scheme(SQLModel, table=True):
    __tablename__ = "scheme"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True, index=True)
    name: str = Field(max_length=160)
    acronym: str | None = Field(default=None, max_length=24)
    summary: str = Field(max_length=200)
    details: str
    min_age: int | None = None
    max_age: int | None = None
    situations: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    goals: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # None: every district; otherwise the district codes where the scheme applies
    districts: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    available_locally: bool = True
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    operator: str = Field(max_length=200)
    source_url: str | None = Field(default=None, max_length=400)
    verified: bool = False


class SchemeVenue(SQLModel, table=True):
    __tablename__ = "scheme_venue"

    scheme_id: int = Field(foreign_key="scheme.id", primary_key=True)
    venue_id: int = Field(foreign_key="venue.id", primary_key=True)


class AdviserScheme(SQLModel, table=True):
    __tablename__ = "adviser_scheme"

    adviser_id: int = Field(foreign_key="adviser.id", primary_key=True)
    scheme_id: int = Field(foreign_key="scheme.id", primary_key=True)
