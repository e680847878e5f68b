"""The first page of results for people as they answer the questionnaire, written from the rules.

Each row: a person (age, situation as chosen in the list, a recognised disability or not, district, goal) and
the schemes that MUST be on their first page (five results) and that must NOT be on it. The expectations come
from the rules (shared/domain/la-possession.md, the sources in the seed file), not from what the code printed:

- CEJ: 16-25 without stable work or training, job seekers included; under 30 with a disability (RQTH).
- Service civique: 16-25, up to 30 with a disability; open to all, for orientation or training.
- Apprenticeship: 16-29, no upper age with a disability.
- E2C: under 26 without a diploma. RSMA-R: 18-25 who left school without a project or a diploma.
- RSA support: RSA beneficiaries; the RSA is from 25 (earlier for young parents and young workers).
- PEC: people far from employment; places are kept for RSA beneficiaries.
- ACRE: job seekers, RSA, 18-25, under 30 with a disability, or a business in a priority neighbourhood
  (where the business is, not where the person lives). Citéslab: residents of the priority neighbourhoods.
- Cap emploi: people with a recognised disability.
- Never to a resident: what is not verified (PLIE, Cité de l'emploi, AI, POEI), EPIDE (none in La Réunion).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from relai_bot.services.schemes import Profile, bracket_for_age, rank_schemes
from relai_bot.store.models import District
from relai_bot.wiring import Runtime

NEVER = {"plie-tco", "cite-emploi", "iae-ai", "poei", "epide"}
QPV = {"saint-laurent", "moulin-joli", "riviere-des-galets"}


@dataclass(frozen=True)
class Row:
    name: str
    age: int
    situation: str | None
    goal: str | None
    district: str | None = "centre-ville"
    disabled: bool = False
    must: frozenset[str] = frozenset()
    must_not: frozenset[str] = frozenset()


def row(
    name: str,
    age: int,
    situation: str | None,
    goal: str | None,
    *,
    district: str | None = "centre-ville",
    disabled: bool = False,
    must: str = "",
    must_not: str = "",
) -> Row:
    return Row(name, age, situation, goal, district, disabled, frozenset(must.split()), frozenset(must_not.split()))


ROWS = [
    # Young people
    row("19, looking for a job", 19, "demandeur_emploi", "emploi", must="cej rsma-r", must_not="rsa-engagement"),
    row("19, neither work nor study", 19, "jeune_sans_emploi_ni_formation", "emploi", must="cej rsma-r"),
    row("17, no diploma, training", 17, "sans_diplome", "formation", must="e2c apprentissage", must_not="rsma-r"),
    row("17, looking for a job", 17, "demandeur_emploi", "emploi", must="cej", must_not="rsma-r aide-permis-ft"),
    row("16, neither work nor study, no goal", 16, "jeune_sans_emploi_ni_formation", None, must="cej"),
    row("22, no diploma, training", 22, "sans_diplome", "formation", must="e2c rsma-r apprentissage"),
    row("24, employed, training", 24, "salarie", "formation", must="apprentissage service-civique", must_not="cej"),
    row("21, orientation", 21, "jeune_sans_emploi_ni_formation", "orientation", must="cej service-civique"),
    row("25, job seeker, driving licence", 25, "demandeur_emploi", "mobilite", must="aide-permis-ft"),
    # The disability extensions
    row("28, RQTH, job", 28, "rqth", "emploi", must="cej cap-emploi", must_not="rsma-r e2c"),
    row("29, RQTH, orientation", 29, "rqth", "orientation", must="service-civique cej cap-emploi"),
    row("27, RQTH, training", 27, "rqth", "formation", must="apprentissage cej"),
    row("40, RQTH, training", 40, "rqth", "formation", must="apprentissage cap-emploi", must_not="cej"),
    row("27, job seeker, no RQTH", 27, "demandeur_emploi", "emploi", must_not="cej e2c rsma-r service-civique"),
    row(
        "28, job seeker with RQTH",
        28,
        "demandeur_emploi",
        "emploi",
        disabled=True,
        must="cej",
        must_not="rsma-r",
    ),
    row("35, job seeker, orientation", 35, "demandeur_emploi", "orientation", must_not="service-civique cej"),
    # Adults far from employment
    row("47, RSA, job", 47, "beneficiaire_rsa", "emploi", must="pec rsa-engagement", must_not="cej"),
    row("52, RSA, training", 52, "beneficiaire_rsa", "formation", must="pec rsa-engagement", must_not="apprentissage"),
    row("38, long-term jobless, job", 38, "demandeur_emploi_longue_duree", "emploi", must="pec iae-aci"),
    row("45, job seeker, job", 45, "demandeur_emploi", "emploi", must="pec accompagnement-france-travail"),
    row("33, job seeker, mobility", 33, "demandeur_emploi", "mobilite", must="aide-permis-ft ladom-pmfp"),
    row("50, employed, job", 50, "salarie", "emploi", must_not="pec iae-ei cej accompagnement-france-travail"),
    row("30, no answers but the goal", 30, None, "emploi", must_not="cej rsma-r e2c"),
    # Creating a business
    row(
        "35, project, Pichette",
        35,
        "porteur_de_projet",
        "creation",
        district="pichette",
        must="adie initiative-reunion cape-couveuse acre",
        must_not="citeslab",
    ),
    row("35, project, Saint-Laurent", 35, "porteur_de_projet", "creation", district="saint-laurent", must="citeslab"),
    row(
        "42, project, Moulin Joli",
        42,
        "porteur_de_projet",
        "creation",
        district="moulin-joli",
        must="citeslab acre",
    ),
    row("23, job seeker, creation", 23, "demandeur_emploi", "creation", must="acre", must_not="citeslab"),
    row("40, employed, creation", 40, "salarie", "creation", must="adie initiative-reunion cape-couveuse"),
    row("45, RSA, creation", 45, "beneficiaire_rsa", "creation", must="acre adie"),
    # Districts and unknowns
    row(
        "30, job seeker, QPV, orientation",
        30,
        "demandeur_emploi",
        "orientation",
        district="riviere-des-galets",
        must="accompagnement-france-travail",
        must_not="service-civique",
    ),
    row("20, no district, job", 20, "demandeur_emploi", "emploi", district=None, must="cej"),
    row("60, job seeker, job", 60, "demandeur_emploi", "emploi", must="pec", must_not="apprentissage cej"),
    row("18, RSA, job", 18, "beneficiaire_rsa", "emploi", must="cej pec"),
]


@pytest.fixture
def session(runtime: Runtime):  # type: ignore[no-untyped-def]
    with runtime.db.transaction() as session:
        yield session


def profile_for(session: Session, r: Row) -> Profile:
    """The profile the flow builds: an age becomes its bracket as the age parser does."""
    qpv = None
    if r.district is not None:
        district = session.exec(select(District).where(District.code == r.district)).one()
        qpv = district.qpv
        assert qpv == (r.district in QPV)
    return Profile(
        age_bracket=bracket_for_age(r.age),
        situation=r.situation,
        goal=r.goal,
        district_code=r.district,
        qpv=qpv,
        disabled=r.disabled,
    )


def test_the_table_has_thirty_profiles() -> None:
    assert len(ROWS) >= 30
    assert len({r.name for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("r", ROWS, ids=[r.name for r in ROWS])
def test_first_page(session: Session, r: Row) -> None:
    first = [x.scheme.code for x in rank_schemes(session, profile_for(session, r), limit=5)]
    everything = [x.scheme.code for x in rank_schemes(session, profile_for(session, r), limit=100)]
    print(f"{r.name}: {first}")
    assert set(first) >= r.must, f"{r.name}: missing {sorted(r.must - set(first))} from {first}"
    assert not set(first) & r.must_not, f"{r.name}: {sorted(set(first) & r.must_not)} should not be in {first}"
    assert not set(everything) & NEVER, f"{r.name}: never to a resident: {sorted(set(everything) & NEVER)}"


def test_every_page_is_new(session: Session) -> None:
    """'Voir d'autres aides' shows the next ones: pages never repeat a scheme, and together they are the list."""
    for r in ROWS:
        profile = profile_for(session, r)
        whole = [x.scheme.code for x in rank_schemes(session, profile, limit=100)]
        pages = [x.scheme.code for n in range(0, 20) for x in rank_schemes(session, profile, limit=5, offset=5 * n)]
        assert pages == whole and len(set(whole)) == len(whole), r.name


def test_ties_are_not_broken_by_name(session: Session) -> None:
    """Schemes equal on fit come in the catalog's order, which is not the alphabet: renaming changes nothing."""
    profile = Profile(age_bracket="30-49", situation="beneficiaire_rsa", goal="emploi", qpv=False)
    before = [x.scheme.code for x in rank_schemes(session, profile, limit=100)]
    for scheme in (x.scheme for x in rank_schemes(session, profile, limit=100)):
        scheme.name = "A" + scheme.name if scheme.code.startswith("iae") else "Z" + scheme.name
    assert [x.scheme.code for x in rank_schemes(session, profile, limit=100)] == before
