"""Eligibility ranking and free-text search over the demo schemes."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from relai_bot.services.schemes import Profile, bracket_for_age, rank_schemes, search_schemes
from relai_bot.wiring import Runtime


@pytest.fixture
def session(runtime: Runtime):  # type: ignore[no-untyped-def]
    with runtime.db.transaction() as session:
        yield session


def codes(ranked: list) -> list[str]:  # type: ignore[type-arg]
    return [r.scheme.code for r in ranked]


def test_young_jobless_person_gets_youth_schemes_first(session: Session) -> None:
    profile = Profile(
        age_bracket="18-25",
        situation="jeune_sans_emploi_ni_formation",
        goal="emploi",
        district_code="saint-laurent",
        qpv=True,
    )
    ranked = rank_schemes(session, profile, limit=5)
    assert codes(ranked)[0] in {"cej", "e2c", "rsma-r"}
    assert "cej" in codes(ranked)[:3]
    cej = next(r for r in ranked if r.scheme.code == "cej")
    assert cej.reasons == ("situation:jeune_sans_emploi_ni_formation", "age:16-25", "goal")


def test_the_disability_extension_widens_the_age_and_says_so(session: Session) -> None:
    disabled = Profile(age_bracket="26-29", situation="demandeur_emploi", goal="emploi", disabled=True)
    cej = next(r for r in rank_schemes(session, disabled, limit=100) if r.scheme.code == "cej")
    assert cej.reasons == ("situation:demandeur_emploi", "age:16-29", "goal")
    # "J'ai une RQTH" chosen as the situation: the age fits, whether they work is for an adviser to tell
    rqth = Profile(age_bracket="26-29", situation="rqth", goal="emploi")
    assert "cej" in codes(rank_schemes(session, rqth, limit=5))
    without = rank_schemes(session, Profile(age_bracket="26-29", situation="demandeur_emploi"), limit=100)
    assert "cej" not in codes(without)


def test_business_creation_goal(session: Session) -> None:
    profile = Profile(age_bracket="30-49", situation="porteur_de_projet", goal="creation", district_code="pichette")
    top = codes(rank_schemes(session, profile, limit=5))
    assert {"acre", "adie", "initiative-reunion", "cape-couveuse"} <= set(top[:4])
    assert "citeslab" not in top  # QPV districts only
    acre = next(r for r in rank_schemes(session, profile, limit=5) if r.scheme.code == "acre")
    assert acre.reasons[0] == "criterion:business_in_qpv"  # where the business will be, not where they live


def test_out_of_reach_schemes_are_never_offered(session: Session) -> None:
    for bracket in ("16-17", "18-25", "26-29", "30-49", "50+"):
        for goal in ("emploi", "formation", "creation", "orientation", "mobilite"):
            ranked = rank_schemes(session, Profile(age_bracket=bracket, goal=goal), limit=30)
            assert "epide" not in codes(ranked)  # not offered in La Réunion
            for r in ranked:
                assert r.scheme.verified and r.scheme.available_locally
                if r.scheme.max_age is not None and bracket in ("30-49", "50+"):
                    assert r.scheme.max_age >= 30 or r.scheme.disabled_max_age, (bracket, r.scheme.code)


def test_ranking_is_sorted_and_explained(session: Session) -> None:
    ranked = rank_schemes(session, Profile(age_bracket="26-29", situation="beneficiaire_rsa", goal="formation"), 10)
    assert [r.key for r in ranked] == sorted(r.key for r in ranked)
    assert all(r.reasons for r in ranked)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("formasion", {"apprentissage", "poei", "e2c", "ladom-pmfp", "rsma-r"}),
        ("creer entreprise", {"acre", "adie", "initiative-reunion", "cape-couveuse", "citeslab"}),
        ("CRÉER MON ENTREPRISE", {"acre", "adie", "initiative-reunion", "cape-couveuse", "citeslab"}),
        ("permis", {"aide-permis-ft"}),
        ("handicap", {"cap-emploi"}),
        ("cej", {"cej"}),
        ("apprenti", {"apprentissage"}),
    ],
)
def test_search_forgives_typos_accents_and_case(session: Session, query: str, expected: set[str]) -> None:
    found = codes(search_schemes(session, query, stopwords=("je", "mon", "ma"), limit=5))
    assert found and found[0] in expected, found


def test_search_with_nothing_meaningful(session: Session) -> None:
    assert search_schemes(session, "je le la", stopwords=("je", "le", "la")) == []
    assert search_schemes(session, "zzqxw") == []


def test_age_brackets() -> None:
    assert [bracket_for_age(a) for a in (16, 17, 18, 25, 26, 29, 30, 49, 50, 90)] == [
        "16-17",
        "16-17",
        "18-25",
        "18-25",
        "26-29",
        "26-29",
        "30-49",
        "30-49",
        "50+",
        "50+",
    ]
    assert bracket_for_age(15) is None
