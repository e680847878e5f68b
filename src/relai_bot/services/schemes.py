"""Schemes: eligibility ranking from a short questionnaire, and forgiving free-text search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, and_
from sqlmodel import Session, col, select

from relai_bot.services import eligibility
from relai_bot.services.content_languages import FRENCH, OTHER_LANGUAGES
from relai_bot.services.eligibility import AGE_BRACKETS, Fit, Profile, bracket_for_age
from relai_bot.services.errors import NotFound
from relai_bot.services.text import fold, words
from relai_bot.store.models import District, Resident, Scheme

__all__ = [
    "AGE_BRACKETS",
    "Profile",
    "RankedScheme",
    "SchemeText",
    "SchemeView",
    "bracket_for_age",
    "profile_of",
    "rank_schemes",
    "scheme_text",
    "scheme_view",
]

# What a scheme says in each language: its own columns in French, Scheme.texts for the other languages
# (services/content_languages.py; the seed file and the back-office form fill them)
TEXT_FIELDS = ("name", "summary", "details")
TEXT_LANGUAGES = OTHER_LANGUAGES


@dataclass(frozen=True)
class SchemeText:
    """A scheme's name, summary and details in one language."""

    name: str
    summary: str
    details: str


def scheme_text(scheme: Scheme, language: str | None) -> SchemeText:
    """The scheme's texts in `language`, each field falling back to the French column when that language
    has none (None or French: the columns). The one reader of Scheme.texts for what a resident sees."""
    own: dict[str, str] = {}
    if language and language != FRENCH:
        stored = (scheme.texts or {}).get(language)
        own = stored if isinstance(stored, dict) else {}
    values = [str(own.get(name) or "").strip() or str(getattr(scheme, name)) for name in TEXT_FIELDS]
    return SchemeText(*values)


@dataclass(frozen=True)
class SchemeView:
    """A scheme as a resident reads it, in their language: the detail's `scheme` (templates read these
    fields; the amount is not one of them: `amount_shown` gives it)."""

    code: str
    name: str
    acronym: str | None
    summary: str
    details: str
    operator: str
    verified: bool
    review_by: date | None


def scheme_view(scheme: Scheme, language: str | None) -> SchemeView:
    text = scheme_text(scheme, language)
    return SchemeView(
        code=scheme.code,
        name=text.name,
        acronym=scheme.acronym,
        summary=text.summary,
        details=text.details,
        operator=scheme.operator,
        verified=scheme.verified,
        review_by=scheme.review_by,
    )


def scheme_label(scheme: Scheme, language: str | None) -> str:
    """How a resident sees the scheme named in one line: "CEJ - Contrat d'engagement jeune"."""
    name = scheme_text(scheme, language).name
    return f"{scheme.acronym} - {name}" if scheme.acronym else name


@dataclass(frozen=True)
class RankedScheme:
    scheme: Scheme
    # Why it fits, in order (rendered by templates/messages/<lang>/discovery/_why.j2):
    # priority:<situation>, situation:<situation>, criterion:<age|disabled|business_in_qpv>, open, maybe, then
    # age:<from>-<to> (made for an age group: theirs), goal,
    # district; or keyword for a search
    reasons: tuple[str, ...]
    key: tuple[float, ...] = ()


def profile_of(session: Session, resident: Resident | None, **answers: str | None) -> Profile:
    """A profile from the resident's stored answers, overridden by the questionnaire's answers."""
    district = session.get(District, resident.district_id) if resident and resident.district_id else None
    return Profile(
        age_bracket=answers.get("age_bracket") or (resident.age_bracket if resident else None),
        situation=answers.get("situation") or (resident.situation if resident else None),
        goal=answers.get("goal"),
        district_code=district.code if district else None,
        qpv=district.qpv if district else None,
    )


def shown_to_residents() -> ColumnElement[bool]:
    """The one rule: only what the commune verified, and offered here, reaches a resident (the ranking, the
    search, the schemes one may book about: services.booking)."""
    return and_(col(Scheme.verified).is_(True), col(Scheme.available_locally).is_(True))


# Ranking, the rationale. A list a person can trust answers what they asked for first, then puts what
# certainly fits them before what might, and among equals what was made for people like them before what is
# open to all. So, in this order (services.eligibility decides what fits):
#  1. Out of reach, never listed: not verified, not offered here (shown_to_residents), and any rule that
#     rules the person out (age, district, an audience they are certainly not in).
#  2. Their goal: a scheme for what they look for comes before one for another goal (no goal: all equal).
#  3. How surely it fits: a situation the rules make a priority (a quota, a higher aid), then an audience
#     their answer puts them in, then a scheme open to everyone, then one where an adviser must tell (their
#     answer did not say, their age bracket straddles a limit, the district is unknown).
#  4. On a tie, how specifically: made for their age group; the scheme names the very situation they chose
#     (not one we infer from it); what they look for is its first goal (what it is mostly for); a narrower
#     audience; made for their district.
#  5. Still equal: the catalog's order (the order the commune wrote them in), never the name.
def _rank(scheme: Scheme, profile: Profile) -> RankedScheme | None:
    fit = eligibility.assess(scheme, profile)
    if not fit.reachable:
        return None
    goal_tier = 1 if profile.goal and profile.goal not in scheme.goals else 0
    certain = min(fit.age, fit.district, Fit.YES if fit.audience is None else fit.audience)
    level = 1 if certain is Fit.MAYBE else 4 if fit.priority else 3 if fit.audience is Fit.YES else 2
    age_group = fit.age is Fit.YES and eligibility.upper_age(scheme, profile) is not None
    if level == 1:
        # the business's place can qualify (ACRE): say so, the questionnaire does not ask where it will be
        qpv_business = any(c.get("business_in_qpv") for c in scheme.criteria or ())
        first = "criterion:business_in_qpv" if qpv_business and fit.audience is Fit.MAYBE else "maybe"
    elif fit.priority:
        first = f"priority:{fit.priority}"
    elif fit.because is not None and fit.because.startswith("criterion:"):
        criterion = scheme.criteria[int(fit.because.split(":")[1])]
        first = "criterion:" + next((k for k in ("business_in_qpv", "disabled") if criterion.get(k)), "age")
    elif fit.because is not None:
        first = f"situation:{fit.because}"
    else:
        first = "open"
    reasons = [first]
    if age_group and level > 1:
        reasons.append(f"age:{scheme.min_age or ''}-{eligibility.upper_age(scheme, profile)}")
    if profile.goal and not goal_tier:
        reasons.append("goal")
    if scheme.districts is not None and fit.district is Fit.YES:
        reasons.append("district")
    direct = fit.because is not None and fit.because == profile.situation
    key = (
        goal_tier,
        -level,
        0 if age_group else 1,
        0 if direct else 1,
        0 if profile.goal and scheme.goals[:1] == [profile.goal] else 1,
        eligibility.audience_size(scheme) or 99,
        0 if scheme.districts is not None else 1,
        scheme.id or 0,
    )
    return RankedScheme(scheme=scheme, reasons=tuple(reasons), key=key)


def rank_schemes(session: Session, profile: Profile, limit: int = 5, offset: int = 0) -> list[RankedScheme]:
    """Schemes that may fit the profile, best first (see the rationale above), `limit` from `offset`."""
    listed = session.exec(select(Scheme).where(shown_to_residents()))
    ranked = [r for s in listed if (r := _rank(s, profile)) is not None]
    ranked.sort(key=lambda r: r.key)
    return ranked[offset : offset + limit]


@dataclass(frozen=True, eq=False)  # one object per wording (_vocabularies), compared by identity
class Vocabulary:
    """The words a search compares a typed word with, prepared once per wording of a scheme."""

    words: frozenset[str]
    long: tuple[str, ...]  # the words of 4 letters or more, the only ones compared by spelling


def _vocabulary(scheme: Scheme) -> tuple[Vocabulary, Vocabulary]:
    """(strong words: acronym and keywords, weak words: name and summary, in every language: a resident may
    write in Creole to the French relai, or the other way round)."""
    wordings = tuple(
        (text.name, text.summary)
        for text in (scheme_text(scheme, language) for language in (FRENCH, *(scheme.texts or {})))
    )
    return _vocabularies(tuple(scheme.keywords), scheme.acronym or "", wordings)


@lru_cache(maxsize=1024)
def _vocabularies(
    keywords: tuple[str, ...], acronym: str, wordings: tuple[tuple[str, str], ...]
) -> tuple[Vocabulary, Vocabulary]:
    strong = {w for k in keywords for w in words(k)} | set(words(acronym))
    weak = {w for name, summary in wordings for w in (*words(name), *words(summary))}
    return _prepared(strong), _prepared(weak)


def _prepared(found: set[str]) -> Vocabulary:
    return Vocabulary(frozenset(found), tuple(sorted(w for w in found if len(w) >= 4)))


@lru_cache(maxsize=16384)  # residents type the same words again and again
def _token_match(token: str, vocabulary: Vocabulary) -> float:
    """1 for the word itself; 0.85 for a word that starts the same (5 letters); else the closest spelling
    (80 % alike or more) among the other words; 0 when none is close."""
    if token in vocabulary.words:
        return 1.0
    if len(token) < 4:
        return 0.0
    stem = token[:5]
    same_start = [w.startswith(stem) or token.startswith(w[:5]) for w in vocabulary.long]
    others = [w for w, same in zip(vocabulary.long, same_start, strict=True) if not same]
    closest = process.extractOne(token, others, scorer=fuzz.ratio, score_cutoff=80) if others else None
    return max(0.85 if any(same_start) else 0.0, closest[1] / 100 if closest else 0.0)


def search_schemes(session: Session, query: str, stopwords: Sequence[str] = (), limit: int = 5) -> list[RankedScheme]:
    """Free-text search that forgives missing accents and typos ("formasion", "creer entreprise")."""
    ignored = {fold(w) for w in stopwords}
    tokens = [t for t in words(query) if t not in ignored and (len(t) >= 3 or t.isdigit())]
    if not tokens:
        return []
    results: list[RankedScheme] = []
    for scheme in session.exec(select(Scheme).where(shown_to_residents())):
        strong, weak = _vocabulary(scheme)
        score = named = 0.0
        for token in tokens:
            in_name = _token_match(token, weak)
            score += max(2 * _token_match(token, strong), in_name)
            named += in_name
        if score > 0:
            # on a tie, the scheme whose own name or summary says the words, then the catalog's order
            key = (-score, -named, scheme.id or 0)
            results.append(RankedScheme(scheme=scheme, reasons=("keyword",), key=key))
    results.sort(key=lambda r: r.key)
    return results[:limit]


def amount_shown(scheme: Scheme, today: date) -> str | None:
    """The amount a resident may be shown: only while it is within its "check again by" date (today
    included), never when that date is missing. The one rule: templates get the amount from here only."""
    if not scheme.amount or scheme.review_by is None or today > scheme.review_by:
        return None
    return scheme.amount


def get_scheme(session: Session, code: str) -> Scheme:
    scheme = session.exec(select(Scheme).where(Scheme.code == code)).first()
    if scheme is None:
        raise NotFound(f"scheme {code}")
    return scheme
