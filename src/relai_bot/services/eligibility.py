"""Who a scheme is for, and whether a person fits: the one owner of the eligibility rules.

A scheme's rules are data (the seed file gives each rule with its source; the back-office edits the ages and
situations): an age range, widened for a person with a recognised disability (RQTH) where the law says so; the
districts where it applies; its audience, a list of situations and other conditions of which any one suffices
(an empty audience: everyone); and the situations the rules make a priority (a quota, a higher aid).

What a person told us is short and partial: an age bracket (or an age), one situation chosen from a list, maybe
a district. So each rule gives one of three answers: YES (what they said meets it), NO (what they said rules it
out: too old, another district, in work for a scheme for people without work), MAYBE (we cannot tell: their
situation was not asked that way, their age bracket straddles the limit). A scheme is out of reach only on a
NO; a MAYBE stays, ranked after what certainly fits, and the resident reads that an adviser will tell.

A person's situation is one answer among statuses (without work and young, job seeker, job seeker for more
than a year, employed, creating an activity) and attributes (RSA, disability, no diploma) that the list
mixes. Choosing a status says nothing of the attributes, and the reverse; the table below says what each
answer tells about each situation a rule may name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from relai_bot.store.models import Scheme

# Age brackets offered to residents (code -> inclusive range; None = no upper bound)
AGE_BRACKETS: dict[str, tuple[int, int | None]] = {
    "16-17": (16, 17),
    "18-25": (18, 25),
    "26-29": (26, 29),
    "30-49": (30, 49),
    "50+": (50, None),
}
NO_LIMIT = 200


def bracket_for_age(age: int) -> str | None:
    for code, (low, high) in AGE_BRACKETS.items():
        if age >= low and (high is None or age <= high):
            return code
    return None


class Fit(IntEnum):
    NO = 0
    MAYBE = 1
    YES = 2


@dataclass(frozen=True)
class Profile:
    """What a resident told us, all optional. `qpv` None: we do not know where they live."""

    age_bracket: str | None = None
    situation: str | None = None
    goal: str | None = None
    district_code: str | None = None
    qpv: bool | None = None
    disabled: bool = False
    age: int | None = None

    def ages(self) -> tuple[int, int] | None:
        """The range of ages the person may have, from their age or their bracket."""
        if self.age is not None:
            return self.age, self.age
        if self.age_bracket in AGE_BRACKETS:
            low, high = AGE_BRACKETS[self.age_bracket]
            return low, NO_LIMIT if high is None else high
        return None

    @property
    def is_disabled(self) -> bool:
        return self.disabled or self.situation == "rqth"


# What an answer to "your situation" tells about each situation a rule may name (YES or NO; absent: MAYBE).
# Since 2025 every RSA beneficiary is registered with France Travail (shared/domain: RSA and the 2025 reform).
_WITHOUT_WORK = ("jeune_sans_emploi_ni_formation", "demandeur_emploi", "demandeur_emploi_longue_duree")
_TELLS: dict[str, dict[str, Fit]] = {
    "jeune_sans_emploi_ni_formation": {"jeune_sans_emploi_ni_formation": Fit.YES, "salarie": Fit.NO},
    "demandeur_emploi": {"demandeur_emploi": Fit.YES, "jeune_sans_emploi_ni_formation": Fit.YES, "salarie": Fit.NO},
    "demandeur_emploi_longue_duree": dict.fromkeys(_WITHOUT_WORK, Fit.YES) | {"salarie": Fit.NO},
    "beneficiaire_rsa": {"beneficiaire_rsa": Fit.YES, "demandeur_emploi": Fit.YES},
    "rqth": {"rqth": Fit.YES},
    "sans_diplome": {"sans_diplome": Fit.YES},
    "porteur_de_projet": {"porteur_de_projet": Fit.YES},
    "salarie": {"salarie": Fit.YES} | dict.fromkeys(_WITHOUT_WORK, Fit.NO),
}


def situation_fit(named: str, profile: Profile) -> Fit:
    """Whether the person is in the situation a rule names."""
    if named == "residant_qpv":
        return Fit.MAYBE if profile.qpv is None else Fit.YES if profile.qpv else Fit.NO
    if named == "rqth" and profile.is_disabled:
        return Fit.YES
    if named == "porteur_de_projet" and profile.goal == "creation":
        return Fit.YES
    if profile.situation is None:
        return Fit.MAYBE
    return _TELLS.get(profile.situation, {}).get(named, Fit.MAYBE)


def _range_fit(low: int | None, high: int | None, ages: tuple[int, int] | None) -> Fit:
    if ages is None:
        return Fit.MAYBE
    rule_low = 0 if low is None else low
    rule_high = NO_LIMIT if high is None else high
    if ages[1] < rule_low or ages[0] > rule_high:
        return Fit.NO
    return Fit.YES if rule_low <= ages[0] and ages[1] <= rule_high else Fit.MAYBE


def upper_age(scheme: Scheme, profile: Profile) -> int | None:
    """The scheme's upper age for this person: widened with a recognised disability where the rules say so."""
    if profile.is_disabled and scheme.disabled_any_age:
        return None
    if profile.is_disabled and scheme.disabled_max_age is not None:
        return max(scheme.disabled_max_age, scheme.max_age or 0)
    return scheme.max_age


def age_fit(scheme: Scheme, profile: Profile) -> Fit:
    fit = _range_fit(scheme.min_age, upper_age(scheme, profile), profile.ages())
    exceptions = (_range_fit(e.get("min_age"), e.get("max_age"), profile.ages()) for e in scheme.age_exceptions or ())
    if fit is Fit.NO and any(exception is not Fit.NO for exception in exceptions):
        return Fit.MAYBE  # an exception we cannot check: an adviser will tell
    return fit


def district_fit(scheme: Scheme, profile: Profile) -> Fit:
    if scheme.districts is None:
        return Fit.YES
    if profile.district_code is None:
        return Fit.MAYBE
    return Fit.YES if profile.district_code in scheme.districts else Fit.NO


def criterion_fit(criterion: Mapping[str, Any], profile: Profile) -> Fit:
    """A condition of the audience other than a situation: every key of it must hold.

    Keys: "max_age" / "min_age" (an age range), "disabled" (a recognised disability), "business_in_qpv" (the
    business will be in a priority neighbourhood: the rule looks at where the business is, not where the
    person lives, and the questionnaire does not ask it, so it is always MAYBE)."""
    fits = [Fit.YES]
    if "min_age" in criterion or "max_age" in criterion:
        fits.append(_range_fit(criterion.get("min_age"), criterion.get("max_age"), profile.ages()))
    if criterion.get("disabled"):
        fits.append(Fit.YES if profile.is_disabled else Fit.MAYBE)
    if criterion.get("business_in_qpv"):
        fits.append(Fit.MAYBE)
    return min(fits)


@dataclass(frozen=True)
class Eligibility:
    """How a scheme's rules meet a person. `audience` is None when the scheme is open to everyone; `because`
    names what made the audience fit: a situation code, or "criterion:<n>" for the n-th other condition."""

    age: Fit
    district: Fit
    audience: Fit | None
    because: str | None
    priority: str | None

    @property
    def reachable(self) -> bool:
        return Fit.NO not in (self.age, self.district, self.audience)


def assess(scheme: Scheme, profile: Profile) -> Eligibility:
    """The scheme's rules against what the person told us."""
    audience: Fit | None = None
    because: str | None = None
    conditions: list[tuple[str, Fit]] = [(s, situation_fit(s, profile)) for s in scheme.situations]
    conditions += [(f"criterion:{n}", criterion_fit(c, profile)) for n, c in enumerate(scheme.criteria or ())]
    if scheme.without_work and profile.situation == "salarie":
        conditions, because, audience = [], None, Fit.NO
    if conditions:
        # the best; among equals the very situation they chose, then the first named
        because, audience = max(conditions, key=lambda pair: (pair[1], pair[0] == profile.situation))
        if audience is Fit.MAYBE:
            because = None
    priority = next((s for s in scheme.priority or () if situation_fit(s, profile) is Fit.YES), None)
    return Eligibility(age_fit(scheme, profile), district_fit(scheme, profile), audience, because, priority)


def audience_size(scheme: Scheme) -> int:
    """How many ways in the audience has (0: open to everyone); fewer is more targeted."""
    return len(scheme.situations) + len(scheme.criteria or ())
