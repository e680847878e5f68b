"""Load the seed file into the database: upsert by code, then cut openings into slots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import delete
from sqlmodel import Session, SQLModel, col, select

from relai_bot.seed.schema import WEEKDAYS, SeedFile
from relai_bot.services.agenda import extend_slots
from relai_bot.store.models import (
    Adviser,
    AdviserScheme,
    District,
    Opening,
    Scheme,
    SchemeVenue,
    StaffUser,
    Venue,
    id_of,
)

ModelT = TypeVar("ModelT", bound=SQLModel)

DEMO_FILE = Path(__file__).with_name("demo.yaml")


@dataclass(frozen=True)
class SeedReport:
    districts: int
    venues: int
    schemes: int
    advisers: int
    staff: int
    slots_created: int


def read_seed(path: Path = DEMO_FILE) -> SeedFile:
    with path.open(encoding="utf-8") as handle:
        return SeedFile.model_validate(yaml.safe_load(handle))


def _upsert(session: Session, model: type[ModelT], key: str, value: str, fields: dict[str, Any]) -> ModelT:
    row = session.exec(select(model).where(getattr(model, key) == value)).first()
    if row is None:
        row = model(**{key: value, **fields})
    else:
        for name, field_value in fields.items():
            setattr(row, name, field_value)
    session.add(row)
    session.flush()
    return row


def load_seed(session: Session, seed: SeedFile, *, now: datetime, tz: ZoneInfo) -> SeedReport:
    """Idempotent: running it twice changes nothing the second time."""
    districts = {
        d.code: _upsert(
            session,
            District,
            "code",
            d.code,
            {"name": d.name, "qpv": d.qpv, "aliases": d.aliases, "lat": d.lat, "lon": d.lon},
        )
        for d in seed.districts
    }
    venues = {
        v.code: _upsert(
            session,
            Venue,
            "code",
            v.code,
            {
                "name": v.name,
                "district_id": districts[v.district].id if v.district else None,
                "town": v.town,
                "address": v.address,
                "phone": v.phone,
                "remote": v.remote,
                "lat": v.lat,
                "lon": v.lon,
                "verified": v.verified,
                "opening_hours": v.opening_hours,
                "accessibility": v.accessibility,
                "checked_on": v.checked_on,
            },
        )
        for v in seed.venues
    }
    schemes = {}
    for s in seed.schemes:
        scheme = _upsert(
            session,
            Scheme,
            "code",
            s.code,
            {
                "name": s.name,
                "acronym": s.acronym,
                "summary": s.summary,
                "details": s.details,
                "texts": {language: text.model_dump() for language, text in s.texts.items()},
                "min_age": s.min_age,
                "max_age": s.max_age,
                "disabled_max_age": s.disability.max_age if s.disability else None,
                "disabled_any_age": s.disability is not None and s.disability.max_age is None,
                "age_exceptions": [exception.stored() for exception in s.age_exceptions],
                "situations": list(s.situations),
                "without_work": s.without_work,
                "criteria": [criterion.stored() for criterion in s.criteria],
                "priority": list(s.priority),
                "goals": list(s.goals),
                "districts": None if s.districts == "all" else list(s.districts),
                "available_locally": s.available_locally,
                "keywords": s.keywords,
                "operator": s.operator,
                "source_url": s.source_url,
                "verified": s.verified,
                "sources": [
                    {"label": source.label, "url": source.url, "rules": list(source.rules)} for source in s.sources
                ],
                "amount": s.amount,
                "checked_on": s.checked_on,
                "review_by": s.review_by,
            },
        )
        schemes[s.code] = scheme
        session.execute(delete(SchemeVenue).where(col(SchemeVenue.scheme_id) == scheme.id))
        for code in s.venues:
            session.add(SchemeVenue(scheme_id=id_of(scheme), venue_id=id_of(venues[code])))
    advisers = {}
    for a in seed.advisers:
        adviser = _upsert(session, Adviser, "code", a.code, {"name": a.name, "organisation": a.organisation})
        advisers[a.code] = adviser
        session.execute(delete(AdviserScheme).where(col(AdviserScheme.adviser_id) == adviser.id))
        session.execute(delete(Opening).where(col(Opening.adviser_id) == adviser.id))
        for code in a.schemes:
            session.add(AdviserScheme(adviser_id=id_of(adviser), scheme_id=id_of(schemes[code])))
        for o in a.openings:
            session.add(
                Opening(
                    adviser_id=id_of(adviser),
                    venue_id=id_of(venues[o.venue]),
                    weekday=WEEKDAYS.index(o.weekday) if o.weekday is not None else None,
                    on_date=o.on_date,
                    start=o.start,
                    end=o.end,
                    slot_minutes=o.slot_minutes,
                    capacity=o.capacity,
                )
            )
    for person in seed.staff:
        _upsert(
            session,
            StaffUser,
            "login",
            person.login,
            {
                "name": person.name,
                "role": person.role,
                "adviser_id": advisers[person.adviser].id if person.adviser else None,
            },
        )
    session.flush()
    created = extend_slots(session, now=now, tz=tz, weeks=seed.weeks_of_slots)
    return SeedReport(
        districts=len(districts),
        venues=len(venues),
        schemes=len(schemes),
        advisers=len(advisers),
        staff=len(seed.staff),
        slots_created=created,
    )
