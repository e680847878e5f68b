"""The commune's catalog: create and edit schemes, districts and venues, each field checked, each change in
the audit log (the field names that changed; the catalog holds no resident data).

The back-office pages call these functions; a command line could call them too. Every refusal is a
`FieldError` naming the field at fault; one call reports all of them at once in `InvalidEntry`.

Codes never change once created: they are in the Telegram links of the posters (districts), in residents'
conversations and waitlists (schemes), and in the seed file, which upserts by code.

Who may edit (`may_edit_*`, over `Account.may_reach_district`, the one district rule): administrators
everything; staff the venues of their districts (and may create venues there); advisers nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from relai_bot.services import audit
from relai_bot.services.accounts import Account
from relai_bot.services.errors import DomainError, NotFound, OutOfScope
from relai_bot.services.phones import normalise_phone
from relai_bot.services.schemes import TEXT_FIELDS, TEXT_LANGUAGES
from relai_bot.services.vocabulary import CODE, GOALS, SITUATIONS
from relai_bot.store.models import District, Scheme, SchemeVenue, Venue, id_of

# Lengths: what the tables hold, and the seed's SMS budget for a scheme's summary (in every language)
MAX_NAME = 160
MAX_SUMMARY = 160
MAX_DETAILS = 4000
MAX_SOURCE_LABEL = 160
MAX_URL = 400
MIN_AGE, MAX_AGE = 0, 99
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


class CatalogError(DomainError):
    """A change to the catalog that cannot be made."""


class FieldError(CatalogError):
    """One field's value refused; the class says why, `field` names the field (and `index` the row of a
    repeated field, such as a source)."""

    def __init__(self, field: str, *, index: int | None = None, value: str = "", limit: int | None = None) -> None:
        super().__init__(field if index is None else f"{field}[{index}]")
        self.field = field
        self.index = index
        self.value = value
        self.limit = limit


class Missing(FieldError):
    pass


class TooLong(FieldError):
    pass


class BadCode(FieldError):
    pass


class CodeTaken(FieldError):
    pass


class BadUrl(FieldError):
    """Not an https link to a site (http links are refused: the page may be altered on the way)."""


class SourceIncomplete(FieldError):
    """A source needs both its label and its link."""


class VerifiedWithoutSource(FieldError):
    pass


class BadDate(FieldError):
    """Not a date (AAAA-MM-JJ), or not a plausible one (before 2000, after 2100)."""


class DateInFuture(FieldError):
    """A check cannot have happened after today."""


class ReviewBeforeCheck(FieldError):
    pass


class AmountWithoutReview(FieldError):
    """An amount needs a date to check it again by (residents see it only until then)."""


class BadAge(FieldError):
    """Not a whole number of years between 0 and 99."""


class AgesReversed(FieldError):
    pass


class UnknownSituation(FieldError):
    pass


class UnknownGoal(FieldError):
    pass


class UnknownDistrict(FieldError):
    pass


class NoGoal(FieldError):
    pass


class BadPhone(FieldError):
    pass


class UnknownVenue(FieldError):
    pass


class UnknownLanguage(FieldError):
    """Texts in a language the catalog does not hold (services.schemes.TEXT_LANGUAGES)."""


class DistrictOutOfScope(FieldError):
    """Staff keep a venue in one of their districts."""


class InvalidEntry(CatalogError):
    """Every field refused in one form, in the form's order."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(", ".join(str(e) for e in errors))
        self.errors = tuple(errors)


@dataclass(frozen=True)
class Source:
    label: str
    url: str


@dataclass(frozen=True)
class SchemeTextInput:
    """A scheme's texts in another language than French; a field left empty is shown in French."""

    name: str = ""
    summary: str = ""
    details: str = ""


@dataclass(frozen=True)
class SchemeInput:
    """A scheme as a form (or a command) gives it. Numbers and dates may come as text ("" = none).
    `districts` None: every district. The form edits the ages, situations, goals and districts; the other
    eligibility rules (services.eligibility: disability, criteria, priority) come from the seed file."""

    code: str
    name: str
    summary: str
    details: str
    operator: str
    acronym: str = ""
    min_age: int | str | None = None
    max_age: int | str | None = None
    situations: Sequence[str] = ()
    goals: Sequence[str] = ()
    districts: Sequence[str] | None = None
    available_locally: bool = True
    keywords: Sequence[str] = ()
    sources: Sequence[Source] = ()
    amount: str = ""
    checked_on: date | str | None = None
    review_by: date | str | None = None
    verified: bool = False
    # Where residents may talk about it (venue codes); None: leave them as they are
    venues: Sequence[str] | None = None
    # The texts in other languages, by language (services.schemes.TEXT_LANGUAGES), each replacing what that
    # language had; a language not given keeps its texts; None: leave them all as they are
    texts: Mapping[str, SchemeTextInput] | None = None


@dataclass(frozen=True)
class DistrictInput:
    code: str
    name: str
    qpv: bool = False
    aliases: Sequence[str] = ()


@dataclass(frozen=True)
class VenueInput:
    code: str
    name: str
    district: str | None = None  # a district code; None: none (outside the commune, or a phone meeting)
    town: str = "La Possession"
    address: str = ""
    phone: str = ""
    remote: bool = False
    opening_hours: str = ""
    accessibility: str = ""
    verified: bool = False
    checked_on: date | str | None = None


# --- who may edit -----------------------------------------------------------------------------------------


def may_edit_schemes(account: Account) -> bool:
    return account.is_admin


def may_edit_districts(account: Account) -> bool:
    return account.is_admin


def may_edit_venue(account: Account, district_id: int | None) -> bool:
    """Admins every venue; staff those of their districts (a venue with no district: admins only)."""
    return account.is_admin if district_id is None else account.may_reach_district(district_id)


def may_create_venues(account: Account) -> bool:
    return account.is_admin or (account.role == "staff" and bool(account.district_ids))


# --- reading ----------------------------------------------------------------------------------------------


def list_schemes(session: Session) -> list[Scheme]:
    return list(session.exec(select(Scheme).order_by(col(Scheme.name))))


def list_districts(session: Session) -> list[District]:
    return list(session.exec(select(District).order_by(col(District.name))))


def list_venues(session: Session) -> list[Venue]:
    return list(session.exec(select(Venue).order_by(col(Venue.name))))


def get_scheme(session: Session, scheme_id: int) -> Scheme:
    scheme = session.get(Scheme, scheme_id)
    if scheme is None:
        raise NotFound(f"scheme {scheme_id}")
    return scheme


def get_district(session: Session, district_id: int) -> District:
    district = session.get(District, district_id)
    if district is None:
        raise NotFound(f"district {district_id}")
    return district


def get_venue(session: Session, venue_id: int) -> Venue:
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise NotFound(f"venue {venue_id}")
    return venue


def scheme_sources(scheme: Scheme) -> list[Source]:
    """The scheme's sources as stored (rows without a link are left out)."""
    return [
        Source(str(s.get("label") or ""), str(s.get("url")))
        for s in scheme.sources
        if isinstance(s, dict) and s.get("url")
    ]


# --- checking ---------------------------------------------------------------------------------------------


@dataclass
class _Checker:
    """Collects the refusals of one form."""

    errors: list[FieldError] = field(default_factory=list)
    venue_ids: list[int] | None = None  # a scheme's venues, once checked

    def fail(self, error: FieldError) -> None:
        self.errors.append(error)

    def text(self, name: str, value: str | None, limit: int, *, required: bool = False) -> str | None:
        value = (value or "").strip()
        if not value:
            if required:
                self.fail(Missing(name))
            return None
        if len(value) > limit:
            self.fail(TooLong(name, value=value, limit=limit))
        return value

    def code(self, session: Session, model: type[District] | type[Venue] | type[Scheme], value: str) -> str:
        value = value.strip()
        if not value:
            self.fail(Missing("code"))
        elif not CODE.match(value):
            self.fail(BadCode("code", value=value))
        elif session.exec(select(model).where(model.code == value)).first() is not None:
            self.fail(CodeTaken("code", value=value))
        return value

    def day(self, name: str, value: date | str | None) -> date | None:
        if value is None or isinstance(value, date):
            day = value
        elif not value.strip():
            return None
        else:
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                self.fail(BadDate(name, value=value))
                return None
        if day is not None and not EARLIEST <= day <= LATEST:
            self.fail(BadDate(name, value=day.isoformat()))
            return None
        return day

    def age(self, name: str, value: int | str | None) -> int | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            years = value if isinstance(value, int) else int(value.strip())
        except ValueError:
            self.fail(BadAge(name, value=str(value)))
            return None
        if not MIN_AGE <= years <= MAX_AGE:
            self.fail(BadAge(name, value=str(value)))
            return None
        return years

    def url(self, name: str, value: str, index: int | None = None) -> str:
        value = value.strip()
        if not is_https_link(value):
            self.fail(BadUrl(name, index=index, value=value))
        return value


def is_https_link(value: str) -> bool:
    """An https link to a site, as a source must be (the seed file checks its sources with it too)."""
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname) and " " not in value and len(value) <= MAX_URL


def _unique(values: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        value = value.strip()
        if value and value not in seen:
            seen.append(value)
    return seen


TEXT_LIMITS = {"name": MAX_NAME, "summary": MAX_SUMMARY, "details": MAX_DETAILS}


def text_field(name: str, language: str) -> str:
    """How a form, a refusal and the audit log name a text in another language: name_rcf, summary_rcf."""
    return f"{name}_{language}"


def _scheme_texts(
    stored: Mapping[str, Mapping[str, str]], given: Mapping[str, SchemeTextInput] | None, check: _Checker
) -> dict[str, dict[str, str]]:
    """The texts in other languages once `given` replaces what its languages had (checked like the French
    ones: lengths; none required)."""
    texts = {language: dict(own) for language, own in stored.items() if isinstance(own, Mapping)}
    for language, text in (given or {}).items():
        if language not in TEXT_LANGUAGES:
            check.fail(UnknownLanguage("texts", value=language))
            continue
        own = {}
        for name in TEXT_FIELDS:
            value = check.text(text_field(name, language), getattr(text, name), TEXT_LIMITS[name])
            if value:
                own[name] = value
        if own:
            texts[language] = own
        else:
            texts.pop(language, None)
    return texts


def _text_changes(before: Mapping[str, Mapping[str, str]], after: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The names of the texts in other languages that differ (name_rcf...), languages and fields in order."""
    languages = [*TEXT_LANGUAGES, *sorted((set(before) | set(after)) - set(TEXT_LANGUAGES))]
    return [
        text_field(name, language)
        for language in languages
        for name in TEXT_FIELDS
        if before.get(language, {}).get(name) != after.get(language, {}).get(name)
    ]


def _scheme_fields(session: Session, data: SchemeInput, today: date, check: _Checker) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": check.text("name", data.name, MAX_NAME, required=True),
        "acronym": check.text("acronym", data.acronym, 24),
        "summary": check.text("summary", data.summary, MAX_SUMMARY, required=True),
        "details": check.text("details", data.details, MAX_DETAILS, required=True),
        "operator": check.text("operator", data.operator, 200, required=True),
    }
    min_age, max_age = check.age("min_age", data.min_age), check.age("max_age", data.max_age)
    if min_age is not None and max_age is not None and min_age > max_age:
        check.fail(AgesReversed("max_age", value=str(max_age)))
    situations = _unique(data.situations)
    for situation in situations:
        if situation not in SITUATIONS:
            check.fail(UnknownSituation("situations", value=situation))
    goals = _unique(data.goals)
    for goal in goals:
        if goal not in GOALS:
            check.fail(UnknownGoal("goals", value=goal))
    if not goals:
        check.fail(NoGoal("goals"))
    districts = None if data.districts is None else _unique(data.districts)
    if districts is not None:
        known = set(session.exec(select(District.code)))
        for code in districts:
            if code not in known:
                check.fail(UnknownDistrict("districts", value=code))
        if not districts and data.available_locally:
            check.fail(Missing("districts"))
    sources: list[dict[str, str]] = []
    filled = 0  # rows with something in them (a wrong one is refused beside its row, not as "no source")
    for index, source in enumerate(data.sources):
        label, url = source.label.strip(), source.url.strip()
        if not label and not url:
            continue
        filled += 1
        if not label or not url:
            check.fail(SourceIncomplete("sources", index=index))
            continue
        if len(label) > MAX_SOURCE_LABEL:
            check.fail(TooLong("sources", index=index, value=label, limit=MAX_SOURCE_LABEL))
        sources.append({"label": label, "url": check.url("sources", url, index)})
    if data.verified and not filled:
        check.fail(VerifiedWithoutSource("verified"))
    amount = check.text("amount", data.amount, 300)
    checked_on, review_by = check.day("checked_on", data.checked_on), check.day("review_by", data.review_by)
    if checked_on is not None and checked_on > today:
        check.fail(DateInFuture("checked_on", value=checked_on.isoformat()))
    if checked_on is not None and review_by is not None and review_by < checked_on:
        check.fail(ReviewBeforeCheck("review_by", value=review_by.isoformat()))
    if amount and review_by is None and not any(e.field == "review_by" for e in check.errors):
        check.fail(AmountWithoutReview("review_by"))
    venue_ids: list[int] | None = None
    if data.venues is not None:
        by_code = {v.code: id_of(v) for v in session.exec(select(Venue))}
        venue_ids = []
        for code in _unique(data.venues):
            if code in by_code:
                venue_ids.append(by_code[code])
            else:
                check.fail(UnknownVenue("venues", value=code))
    check.venue_ids = venue_ids
    return values | {
        "min_age": min_age,
        "max_age": max_age,
        "situations": situations,
        "goals": goals,
        "districts": districts,
        "available_locally": data.available_locally,
        "keywords": [k.lower() for k in _unique(data.keywords)],
        "sources": sources,
        "source_url": sources[0]["url"] if sources else None,
        "amount": amount,
        "checked_on": checked_on,
        "review_by": review_by,
        "verified": data.verified,
    }


def _district_fields(data: DistrictInput, check: _Checker) -> dict[str, Any]:
    aliases = _unique(a.lower() for a in data.aliases)
    for index, alias in enumerate(aliases):
        if len(alias) > 60:
            check.fail(TooLong("aliases", index=index, value=alias, limit=60))
    return {"name": check.text("name", data.name, 120, required=True), "qpv": data.qpv, "aliases": aliases}


def _venue_fields(session: Session, data: VenueInput, today: date, check: _Checker) -> dict[str, Any]:
    district_id = None
    if data.district:
        district = session.exec(select(District).where(District.code == data.district)).first()
        if district is None:
            check.fail(UnknownDistrict("district", value=data.district))
        else:
            district_id = district.id
    phone = check.text("phone", data.phone, 32)
    if phone and normalise_phone(phone) is None:
        check.fail(BadPhone("phone", value=phone))
    checked_on = check.day("checked_on", data.checked_on)
    if checked_on is not None and checked_on > today:
        check.fail(DateInFuture("checked_on", value=checked_on.isoformat()))
    return {
        "name": check.text("name", data.name, 160, required=True),
        "district_id": district_id,
        "town": check.text("town", data.town, 80) or "La Possession",
        "address": check.text("address", data.address, 200),
        "phone": phone,
        "remote": data.remote,
        "opening_hours": check.text("opening_hours", data.opening_hours, 200),
        "accessibility": check.text("accessibility", data.accessibility, 300),
        "verified": data.verified,
        "checked_on": checked_on,
    }


def _today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def _raise_if(check: _Checker) -> None:
    if check.errors:
        raise InvalidEntry(check.errors)


def _apply(row: District | Venue | Scheme, values: dict[str, Any]) -> list[str]:
    """Set the values; the names of the fields that changed, in order."""
    changed = []
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


# --- schemes ----------------------------------------------------------------------------------------------


def create_scheme(session: Session, data: SchemeInput, *, actor_id: int | None, now: datetime, tz: ZoneInfo) -> Scheme:
    """A new scheme. Raises InvalidEntry."""
    check = _Checker()
    code = check.code(session, Scheme, data.code)
    values = _scheme_fields(session, data, _today(now, tz), check)
    texts = _scheme_texts({}, data.texts, check)
    _raise_if(check)
    scheme = Scheme(code=code, texts=texts, **values)
    session.add(scheme)
    session.flush()
    if check.venue_ids:
        _set_scheme_venues(session, id_of(scheme), check.venue_ids)
    fields = sorted([*values, *_text_changes({}, texts)])
    audit.record(session, actor_id, audit.SCHEME_CREATED, f"scheme:{code}", {"fields": fields}, at=now)
    return scheme


def update_scheme(
    session: Session, scheme_id: int, data: SchemeInput, *, actor_id: int | None, now: datetime, tz: ZoneInfo
) -> Scheme:
    """Change a scheme (its code stays). Raises NotFound, InvalidEntry. Nothing changed: no audit event."""
    scheme = get_scheme(session, scheme_id)
    check = _Checker()
    values = _scheme_fields(session, data, _today(now, tz), check)
    before = scheme.texts or {}
    texts = _scheme_texts(before, data.texts, check)
    _raise_if(check)
    values["sources"] = _keep_rules(scheme.sources, values["sources"])
    changed = _apply(scheme, values)
    if text_changes := _text_changes(before, texts):
        scheme.texts = texts  # a new mapping: the JSON column sees the change
        changed += text_changes
    if check.venue_ids is not None and _set_scheme_venues(session, scheme_id, check.venue_ids):
        changed.append("venues")
    if changed:
        session.add(scheme)
        session.flush()
        audit.record(session, actor_id, audit.SCHEME_UPDATED, f"scheme:{scheme.code}", {"changed": changed}, at=now)
    return scheme


def _keep_rules(stored: Sequence[dict[str, Any]], sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A source kept by its link keeps the rules it gives (the seed file names them; the form does not edit
    them), so editing a label or adding a source does not lose where the eligibility rules come from."""
    rules = {s.get("url"): s["rules"] for s in stored if isinstance(s, dict) and s.get("rules")}
    return [source | ({"rules": rules[source["url"]]} if source["url"] in rules else {}) for source in sources]


def scheme_venue_codes(session: Session, scheme_id: int) -> list[str]:
    """The codes of the venues where the scheme is talked about (the detail's "Où en parler")."""
    statement = (
        select(Venue.code)
        .join(SchemeVenue, col(SchemeVenue.venue_id) == Venue.id)
        .where(SchemeVenue.scheme_id == scheme_id)
        .order_by(col(Venue.name))
    )
    return list(session.exec(statement))


def _set_scheme_venues(session: Session, scheme_id: int, venue_ids: Iterable[int]) -> bool:
    """Replace the scheme's venues; True when they changed."""
    links = list(session.exec(select(SchemeVenue).where(SchemeVenue.scheme_id == scheme_id)))
    wanted = set(venue_ids)
    if {link.venue_id for link in links} == wanted:
        return False
    for link in links:
        session.delete(link)
    session.flush()
    for venue_id in sorted(wanted):
        session.add(SchemeVenue(scheme_id=scheme_id, venue_id=venue_id))
    session.flush()
    return True


# --- districts --------------------------------------------------------------------------------------------


def create_district(session: Session, data: DistrictInput, *, actor_id: int | None, now: datetime) -> District:
    check = _Checker()
    code = check.code(session, District, data.code)
    values = _district_fields(data, check)
    _raise_if(check)
    district = District(code=code, **values)
    session.add(district)
    session.flush()
    audit.record(session, actor_id, audit.DISTRICT_CREATED, f"district:{code}", {"fields": sorted(values)}, at=now)
    return district


def update_district(
    session: Session, district_id: int, data: DistrictInput, *, actor_id: int | None, now: datetime
) -> District:
    district = get_district(session, district_id)
    check = _Checker()
    values = _district_fields(data, check)
    _raise_if(check)
    changed = _apply(district, values)
    if changed:
        session.add(district)
        session.flush()
        audit.record(
            session, actor_id, audit.DISTRICT_UPDATED, f"district:{district.code}", {"changed": changed}, at=now
        )
    return district


# --- venues -----------------------------------------------------------------------------------------------


def create_venue(session: Session, data: VenueInput, *, account: Account, now: datetime, tz: ZoneInfo) -> Venue:
    """A new venue. Staff create them in their districts only. Raises InvalidEntry."""
    check = _Checker()
    code = check.code(session, Venue, data.code)
    values = _venue_fields(session, data, _today(now, tz), check)
    _raise_if(check)
    if not may_edit_venue(account, values["district_id"]):
        raise InvalidEntry([DistrictOutOfScope("district", value=data.district or "")])
    venue = Venue(code=code, **values)
    session.add(venue)
    session.flush()
    audit.record(session, account.id, audit.VENUE_CREATED, f"venue:{code}", {"fields": sorted(values)}, at=now)
    return venue


def update_venue(
    session: Session, venue_id: int, data: VenueInput, *, account: Account, now: datetime, tz: ZoneInfo
) -> Venue:
    """Change a venue (its code stays). Staff: only a venue of their districts, and it stays in them.
    Raises NotFound, OutOfScope, InvalidEntry."""
    venue = get_venue(session, venue_id)
    if not may_edit_venue(account, venue.district_id):
        raise OutOfScope(f"venue {venue.code}")
    check = _Checker()
    values = _venue_fields(session, data, _today(now, tz), check)
    _raise_if(check)
    if not may_edit_venue(account, values["district_id"]):
        raise InvalidEntry([DistrictOutOfScope("district", value=data.district or "")])
    changed = _apply(venue, values)
    if changed:
        session.add(venue)
        session.flush()
        audit.record(session, account.id, audit.VENUE_UPDATED, f"venue:{venue.code}", {"changed": changed}, at=now)
    return venue
