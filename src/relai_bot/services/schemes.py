"""Schemes: eligibility ranking from a short questionnaire, and forgiving free-text search."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from rapidfuzz import fuzz
from sqlmodel import Session, select

from relai_bot.services.errors import NotFound
from relai_bot.services.text import fold, words
from relai_bot.store.models import District, Resident, Scheme

# Age brackets offered to residents (code -> inclusive range; None = no upper bound)
AGE_BRACKETS: dict[str, tuple[int, int | None]] = {
    "16-17": (16, 17),
    "18-25": (18, 25),
    "26-29": (26, 29),
    "30-49": (30, 49),
    "50+": (50, None),
}


def bracket_for_age(age: int) -> str | None:
    for code, (low, high) in AGE_BRACKETS.items():
        if age >= low and (high is None or age <= high):
            return code
    return None


@dataclass(frozen=True)
class Profile:
    """What a resident told us, all optional."""

    age_bracket: str | None = None
    situation: str | None = None
    goal: str | None = None
    district_code: str | None = None
    qpv: bool = False


@dataclass(frozen=True)
class RankedScheme:
    scheme: Scheme
    score: float
    # Reason codes, rendered by templates: age, goal, situation, qpv, district, open, keyword
    reasons: tuple[str, ...]


def profile_of(session: Session, resident: Resident | None, **answers: str | None) -> Profile:
    """A profile from the resident's stored answers, overridden by the questionnaire's answers."""
    district = session.get(District, resident.district_id) if resident and resident.district_id else None
    return Profile(
        age_bracket=answers.get("age_bracket") or (resident.age_bracket if resident else None),
        situation=answers.get("situation") or (resident.situation if resident else None),
        goal=answers.get("goal"),
        district_code=district.code if district else None,
        qpv=bool(district and district.qpv),
    )


def _age_fits(scheme: Scheme, bracket: str | None) -> bool | None:
    """True/False when we can tell, None when the bracket is unknown."""
    if bracket is None or bracket not in AGE_BRACKETS:
        return None
    low, high = AGE_BRACKETS[bracket]
    scheme_low = scheme.min_age if scheme.min_age is not None else 0
    scheme_high = scheme.max_age if scheme.max_age is not None else 200
    return low <= scheme_high and (high if high is not None else 200) >= scheme_low


def score_scheme(scheme: Scheme, profile: Profile) -> RankedScheme | None:
    """None when the scheme is out of reach (not offered here, wrong age, other districts)."""
    if not scheme.available_locally:
        return None
    if scheme.districts is not None and (profile.district_code not in scheme.districts):
        return None
    age = _age_fits(scheme, profile.age_bracket)
    if age is False:
        return None
    score = 0.0
    reasons: list[str] = []
    if profile.goal:
        if profile.goal in scheme.goals:
            score += 3
            reasons.append("goal")
        else:
            score -= 2
    if scheme.situations:
        if profile.situation and profile.situation in scheme.situations:
            score += 2.5
            reasons.append("situation")
        elif profile.qpv and "residant_qpv" in scheme.situations:
            score += 1.5
            reasons.append("qpv")
        elif profile.situation:
            score -= 1.5
    else:
        score += 0.5
        reasons.append("open")
    if age and (scheme.min_age or 0) >= 16 and scheme.max_age is not None:
        score += 1  # a scheme made for this age group
        reasons.append("age")
    if scheme.districts is not None:
        score += 0.5
        reasons.append("district")
    if not scheme.verified:
        score -= 0.5  # on a tie, what the commune confirmed comes first
    return RankedScheme(scheme=scheme, score=score, reasons=tuple(reasons))


def rank_schemes(session: Session, profile: Profile, limit: int = 5) -> list[RankedScheme]:
    """Schemes that fit the profile, best first, each with the reasons it fits."""
    ranked = [r for s in session.exec(select(Scheme)) if (r := score_scheme(s, profile)) is not None]
    ranked = [r for r in ranked if r.score > 0]
    ranked.sort(key=lambda r: (-r.score, r.scheme.name))
    return ranked[:limit]


def _vocabulary(scheme: Scheme) -> tuple[set[str], set[str]]:
    """(strong words: acronym and keywords, weak words: name and summary)."""
    strong = {w for k in scheme.keywords for w in words(k)}
    if scheme.acronym:
        strong |= set(words(scheme.acronym))
    weak = set(words(scheme.name)) | set(words(scheme.summary))
    return strong, weak


def _token_match(token: str, vocabulary: Iterable[str]) -> float:
    best = 0.0
    for word in vocabulary:
        if word == token:
            return 1.0
        if len(token) >= 4 and len(word) >= 4 and (word.startswith(token[:5]) or token.startswith(word[:5])):
            best = max(best, 0.85)
            continue
        if len(token) >= 4 and len(word) >= 4:
            ratio = fuzz.ratio(token, word)
            if ratio >= 80:
                best = max(best, ratio / 100)
    return best


def search_schemes(session: Session, query: str, stopwords: Sequence[str] = (), limit: int = 5) -> list[RankedScheme]:
    """Free-text search that forgives missing accents and typos ("formasion", "creer entreprise")."""
    ignored = {fold(w) for w in stopwords}
    tokens = [t for t in words(query) if t not in ignored and (len(t) >= 3 or t.isdigit())]
    if not tokens:
        return []
    results: list[RankedScheme] = []
    for scheme in session.exec(select(Scheme).where(Scheme.available_locally == True)):  # noqa: E712
        strong, weak = _vocabulary(scheme)
        score = 0.0
        for token in tokens:
            score += max(2 * _token_match(token, strong), _token_match(token, weak))
        if score > 0:
            results.append(RankedScheme(scheme=scheme, score=score, reasons=("keyword",)))
    results.sort(key=lambda r: (-r.score, r.scheme.name))
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
