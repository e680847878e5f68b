"""Shape of the seed file (src/relai_bot/seed/demo.yaml), checked before anything is written.

The vocabulary (situations, goals: services/vocabulary.py, and the weekdays below) is the one the eligibility
ranking, the flows and the back-office use.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from relai_bot.services.catalog import MAX_DETAILS, MAX_NAME, MAX_SUMMARY, is_https_link
from relai_bot.services.content_languages import FRENCH
from relai_bot.services.vocabulary import CODE, Goal, Situation

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat"]
# Monday first, as date.weekday() counts
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_code(value: str) -> str:
    if not CODE.match(value):
        raise ValueError(f"code {value!r}: lower-case letters, digits and dashes, 40 characters at most")
    return value


class DistrictSeed(_Strict):
    code: str
    name: str
    qpv: bool = False
    aliases: list[str] = Field(default_factory=list)
    lat: float
    lon: float
    note: str | None = None

    _code = field_validator("code")(_check_code)


class VenueSeed(_Strict):
    code: str
    name: str
    district: str | None = None
    town: str = "La Possession"
    address: str | None = None
    phone: str | None = None
    remote: bool = False
    lat: float | None = None
    lon: float | None = None
    verified: bool = False
    opening_hours: str | None = Field(default=None, max_length=200)
    accessibility: str | None = Field(default=None, max_length=300)
    checked_on: date | None = None

    _code = field_validator("code")(_check_code)


RuleName = Literal["age", "disability", "situations", "criteria", "priority", "districts"]


class SourceSeed(_Strict):
    """Where a scheme's rules come from: the legal text or the official page (https only), and which of the
    scheme's rules it gives (services.eligibility.RULE_NAMES)."""

    label: str = Field(min_length=1, max_length=160)
    url: str
    rules: list[RuleName] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not is_https_link(value):
            raise ValueError(f"source {value!r}: an https link is needed")
        return value


class DisabilitySeed(_Strict):
    """With a recognised disability (RQTH) the upper age becomes `max_age`; null: no upper age."""

    max_age: int | None


class AgeRangeSeed(_Strict):
    min_age: int | None = None
    max_age: int | None = None

    def stored(self) -> dict[str, int]:
        return self.model_dump(exclude_none=True)


class CriterionSeed(_Strict):
    """A way into a scheme's audience other than a situation; all its keys must hold (services.eligibility)."""

    min_age: int | None = None
    max_age: int | None = None
    disabled: bool = False
    business_in_qpv: bool = False

    @model_validator(mode="after")
    def _something(self) -> CriterionSeed:
        if self.min_age is None and self.max_age is None and not self.disabled and not self.business_in_qpv:
            raise ValueError("a criterion needs an age, disabled or business_in_qpv")
        return self

    def stored(self) -> dict[str, int | bool]:
        return self.model_dump(exclude_defaults=True)


# A language code of templates/messages/ (ISO 639: "rcf" for Réunion Creole)
LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class SchemeTextSeed(_Strict):
    """A scheme's name, summary and details in another language than French, as long as the French ones may
    be (the summary keeps its SMS budget)."""

    name: str = Field(min_length=1, max_length=MAX_NAME)
    summary: str = Field(min_length=1, max_length=MAX_SUMMARY)
    details: str = Field(min_length=1, max_length=MAX_DETAILS)


class SchemeSeed(_Strict):
    code: str
    name: str = Field(max_length=MAX_NAME)
    acronym: str | None = None
    summary: str = Field(max_length=MAX_SUMMARY)
    details: str = Field(max_length=MAX_DETAILS)
    # The same texts in the other languages (the fields above are French): {"rcf": {name, summary, details}}
    texts: dict[str, SchemeTextSeed] = Field(default_factory=dict)
    min_age: int | None = None
    max_age: int | None = None
    disability: DisabilitySeed | None = None
    # Ages where the age rule has exceptions the questionnaire cannot check (a young parent for the RSA)
    age_exceptions: list[AgeRangeSeed] = Field(default_factory=list)
    # The audience: any one of these situations, or one of the criteria, suffices; both empty: everyone
    situations: list[Situation] = Field(default_factory=list)
    # Only for people without work (the situations' source says so): someone employed is out
    without_work: bool = False
    criteria: list[CriterionSeed] = Field(default_factory=list)
    priority: list[Situation] = Field(default_factory=list)
    # What it is for, first what it is mostly for (the ranking prefers a scheme whose first goal is the person's)
    goals: list[Goal] = Field(min_length=1)
    districts: Literal["all"] | list[str] = "all"
    available_locally: bool = True
    keywords: list[str] = Field(default_factory=list)
    operator: str
    venues: list[str] = Field(default_factory=list)
    source_url: str | None = None
    verified: bool = False
    sources: list[SourceSeed] = Field(default_factory=list)
    # Shown to residents only until review_by (services.schemes.amount_shown)
    amount: str | None = Field(default=None, max_length=300)
    checked_on: date | None = None
    review_by: date | None = None

    _code = field_validator("code")(_check_code)

    @field_validator("texts")
    @classmethod
    def _languages(cls, value: dict[str, SchemeTextSeed]) -> dict[str, SchemeTextSeed]:
        for language in value:
            if not LANGUAGE.match(language) or language == FRENCH:
                raise ValueError(f"texts {language!r}: a language code other than {FRENCH} (such as rcf)")
        return value

    @model_validator(mode="after")
    def _ages(self) -> SchemeSeed:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError(f"scheme {self.code}: min_age above max_age")
        if self.amount and self.review_by is None:
            raise ValueError(f"scheme {self.code}: an amount needs a review_by date")
        if self.checked_on and self.review_by and self.review_by < self.checked_on:
            raise ValueError(f"scheme {self.code}: review_by before checked_on")
        if self.verified and (unsourced := [r for r in self.rules() if not any(r in s.rules for s in self.sources)]):
            raise ValueError(f"scheme {self.code}: verified, but no source gives its rules {', '.join(unsourced)}")
        return self

    def rules(self) -> list[RuleName]:
        """The rules this scheme has, by name (each needs a source once the scheme is verified)."""
        present: list[RuleName] = []
        if self.min_age is not None or self.max_age is not None or self.age_exceptions:
            present.append("age")
        if self.disability is not None:
            present.append("disability")
        audience = (("situations", self.situations or self.without_work), ("criteria", self.criteria))
        for name, value in (*audience, ("priority", self.priority)):
            if value:
                present.append(name)  # type: ignore[arg-type]
        if self.districts != "all":
            present.append("districts")
        return present


class OpeningSeed(_Strict):
    """An opening of an adviser at a venue, cut into slots: every week on `weekday`, or once on `date`."""

    weekday: Weekday | None = None
    on_date: date | None = Field(default=None, alias="date")
    start: time
    end: time
    venue: str
    slot_minutes: int = Field(ge=10, le=240)
    capacity: int = Field(default=1, ge=1, le=200)

    @model_validator(mode="after")
    def _order(self) -> OpeningSeed:
        if self.start >= self.end:
            raise ValueError("an opening must end after it starts")
        if (self.weekday is None) == (self.on_date is None):
            raise ValueError("an opening has a weekday (every week) or a date (once), not both")
        return self


class AdviserSeed(_Strict):
    code: str
    name: str
    organisation: str
    schemes: list[str] = Field(min_length=1)
    openings: list[OpeningSeed] = Field(min_length=1)

    _code = field_validator("code")(_check_code)


class StaffSeed(_Strict):
    login: str
    name: str
    role: Literal["admin", "staff", "adviser"]
    adviser: str | None = None


class SeedFile(_Strict):
    spec: Literal[1]
    weeks_of_slots: int = Field(default=4, ge=1, le=26)
    districts: list[DistrictSeed] = Field(min_length=1)
    venues: list[VenueSeed] = Field(min_length=1)
    schemes: list[SchemeSeed] = Field(min_length=1)
    advisers: list[AdviserSeed] = Field(min_length=1)
    staff: list[StaffSeed] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> SeedFile:
        problems: list[str] = []
        for kind, items in (
            ("district", self.districts),
            ("venue", self.venues),
            ("scheme", self.schemes),
            ("adviser", self.advisers),
        ):
            codes = [item.code for item in items]
            dupes = sorted({c for c in codes if codes.count(c) > 1})
            if dupes:
                problems.append(f"duplicate {kind} codes: {', '.join(dupes)}")
        districts = {d.code for d in self.districts}
        venues = {v.code for v in self.venues}
        schemes = {s.code for s in self.schemes}
        advisers = {a.code for a in self.advisers}
        for venue in self.venues:
            if venue.district is not None and venue.district not in districts:
                problems.append(f"venue {venue.code}: unknown district {venue.district}")
        for scheme in self.schemes:
            if scheme.districts != "all":
                problems += [
                    f"scheme {scheme.code}: unknown district {d}" for d in scheme.districts if d not in districts
                ]
            problems += [f"scheme {scheme.code}: unknown venue {v}" for v in scheme.venues if v not in venues]
        for adviser in self.advisers:
            problems += [f"adviser {adviser.code}: unknown scheme {s}" for s in adviser.schemes if s not in schemes]
            problems += [
                f"adviser {adviser.code}: unknown venue {o.venue}" for o in adviser.openings if o.venue not in venues
            ]
        for person in self.staff:
            if person.adviser is not None and person.adviser not in advisers:
                problems.append(f"staff {person.login}: unknown adviser {person.adviser}")
        if problems:
            raise ValueError("; ".join(problems))
        return self
