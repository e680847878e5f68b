"""The catalog service: each field checked (a table of refusals), changes audited by field name, the amount
rule, what is due for review, and what is not verified never offered for booking."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from relai_bot.services import audit, booking, catalog, catalog_review, schemes
from relai_bot.services.catalog import DistrictInput, SchemeInput, SchemeTextInput, Source, VenueInput
from relai_bot.store.models import AuditEvent, Scheme, Venue, id_of
from relai_bot.testing.driver import Driver
from relai_bot.wiring import Runtime
from tests.paths import REPO
from tests.web.admin_support import make_account

TODAY = date(2026, 12, 1)  # the test clock's day in La Réunion

VALID_SCHEME = SchemeInput(
    code="aide-test",
    name="Aide de test",
    summary="Une aide pour tester.",
    details="Le détail de l'aide.",
    operator="La commune",
    min_age="18",
    max_age="25",
    situations=["demandeur_emploi"],
    goals=["emploi"],
    districts=["saint-laurent"],
    sources=[Source("Code du travail", "https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000000000000")],
    amount="Jusqu'à 500 €.",
    checked_on="2026-11-30",
    review_by="2027-04-01",
    verified=True,
)

# (a change to a valid scheme, the refusal, the field it names)
SCHEME_REFUSALS: list[tuple[dict[str, object], type[catalog.FieldError], str]] = [
    ({"code": ""}, catalog.Missing, "code"),
    ({"code": "Aide Test"}, catalog.BadCode, "code"),
    ({"code": "é"}, catalog.BadCode, "code"),
    ({"code": "x" * 41}, catalog.BadCode, "code"),
    ({"code": "cej"}, catalog.CodeTaken, "code"),
    ({"name": "  "}, catalog.Missing, "name"),
    ({"summary": "x" * 161}, catalog.TooLong, "summary"),
    ({"acronym": "x" * 25}, catalog.TooLong, "acronym"),
    ({"min_age": "dix-huit"}, catalog.BadAge, "min_age"),
    ({"min_age": "-1"}, catalog.BadAge, "min_age"),
    ({"max_age": 100}, catalog.BadAge, "max_age"),
    ({"min_age": "26", "max_age": "25"}, catalog.AgesReversed, "max_age"),
    ({"situations": ["chomeur"]}, catalog.UnknownSituation, "situations"),
    ({"goals": ["argent"]}, catalog.UnknownGoal, "goals"),
    ({"goals": []}, catalog.NoGoal, "goals"),
    ({"districts": ["nulle-part"]}, catalog.UnknownDistrict, "districts"),
    ({"districts": []}, catalog.Missing, "districts"),
    ({"sources": [Source("Page", "http://www.legifrance.gouv.fr/")]}, catalog.BadUrl, "sources"),
    ({"sources": [Source("Page", "https://")]}, catalog.BadUrl, "sources"),
    ({"sources": [Source("Page", "javascript:alert(1)")]}, catalog.BadUrl, "sources"),
    ({"sources": [Source("", "https://www.legifrance.gouv.fr/")]}, catalog.SourceIncomplete, "sources"),
    ({"sources": [], "verified": True}, catalog.VerifiedWithoutSource, "verified"),
    ({"checked_on": "30/11/2026"}, catalog.BadDate, "checked_on"),
    ({"review_by": "1999-12-31"}, catalog.BadDate, "review_by"),
    ({"checked_on": "2026-12-02"}, catalog.DateInFuture, "checked_on"),
    ({"review_by": "2026-11-29"}, catalog.ReviewBeforeCheck, "review_by"),
    ({"review_by": ""}, catalog.AmountWithoutReview, "review_by"),
    # the texts in Creole: none required, each as long as its French one may be
    ({"texts": {"rcf": SchemeTextInput(name="x" * 161)}}, catalog.TooLong, "name_rcf"),
    ({"texts": {"rcf": SchemeTextInput(summary="x" * 161)}}, catalog.TooLong, "summary_rcf"),
    ({"texts": {"rcf": SchemeTextInput(details="x" * 4001)}}, catalog.TooLong, "details_rcf"),
    ({"texts": {"en": SchemeTextInput(name="Youth contract")}}, catalog.UnknownLanguage, "texts"),
]


def create(runtime: Runtime, data: SchemeInput) -> Scheme:
    with runtime.db.transaction() as session:
        return catalog.create_scheme(session, data, actor_id=None, now=runtime.clock.now(), tz=runtime.settings.tz)


def test_each_refusal_names_its_field(runtime: Runtime) -> None:
    for changes, refusal, field in SCHEME_REFUSALS:
        with pytest.raises(catalog.InvalidEntry) as caught:
            create(runtime, replace(VALID_SCHEME, **changes))  # type: ignore[arg-type]
        assert [(type(e), e.field) for e in caught.value.errors] == [(refusal, field)], changes
    scheme = create(runtime, VALID_SCHEME)
    assert (scheme.min_age, scheme.max_age, scheme.review_by) == (18, 25, date(2027, 4, 1))
    assert scheme.source_url == VALID_SCHEME.sources[0].url


def test_all_refusals_of_a_form_come_at_once_and_empty_source_rows_are_skipped(runtime: Runtime) -> None:
    with pytest.raises(catalog.InvalidEntry) as caught:
        create(
            runtime,
            replace(
                VALID_SCHEME,
                name="",
                max_age="12",
                sources=[Source("", ""), Source("Loi", "ftp://x.fr"), Source("", "")],
            ),
        )
    found = [(type(e), e.field, e.index) for e in caught.value.errors]
    assert found == [
        (catalog.Missing, "name", None),
        (catalog.AgesReversed, "max_age", None),
        (catalog.BadUrl, "sources", 1),
    ]


def test_the_creole_texts_are_stored_and_audited_by_field_name(runtime: Runtime) -> None:
    creole = SchemeTextInput(name=" Lèd pou tès ", summary="In lèd pou tès.")
    scheme = create(runtime, replace(VALID_SCHEME, texts={"rcf": creole}))
    assert scheme.texts == {"rcf": {"name": "Lèd pou tès", "summary": "In lèd pou tès."}}
    now, tz = runtime.clock.now(), runtime.settings.tz

    def update(data: SchemeInput) -> Scheme:
        with runtime.db.transaction() as session:
            return catalog.update_scheme(session, id_of(scheme), data, actor_id=None, now=now, tz=tz)

    with runtime.db.transaction() as session:
        session.get(Scheme, scheme.id).texts = {**scheme.texts, "zz": {"name": "Kept"}}  # type: ignore[union-attr]
    changed = SchemeTextInput(name="Lèd pou tès", details="Lo détay.")
    assert update(replace(VALID_SCHEME, texts={"rcf": changed})).texts == {
        "rcf": {"name": "Lèd pou tès", "details": "Lo détay."},
        "zz": {"name": "Kept"},  # a language the form does not edit stays as it was
    }
    assert update(replace(VALID_SCHEME, texts=None)).texts["rcf"]["details"] == "Lo détay."  # None: untouched
    assert update(replace(VALID_SCHEME, texts={"rcf": SchemeTextInput()})).texts == {"zz": {"name": "Kept"}}
    with runtime.db.transaction() as session:
        events = list(session.exec(select(AuditEvent).where(AuditEvent.target == "scheme:aide-test")))
    assert [e.action for e in events] == [audit.SCHEME_CREATED, audit.SCHEME_UPDATED, audit.SCHEME_UPDATED]
    assert {"name_rcf", "summary_rcf", "name", "summary"} <= set(events[0].detail["fields"])
    assert "texts" not in events[0].detail["fields"]
    assert events[1].detail == {"changed": ["summary_rcf", "details_rcf"]}
    assert events[2].detail == {"changed": ["name_rcf", "details_rcf"]}


def test_venues_and_districts_are_checked_too(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re")
    now, tz = runtime.clock.now(), runtime.settings.tz
    refusals: list[tuple[VenueInput, type[catalog.FieldError], str]] = [
        (VenueInput(code="mediatheque-heva", name="Doublon"), catalog.CodeTaken, "code"),
        (VenueInput(code="lieu", name="Lieu", district="ailleurs"), catalog.UnknownDistrict, "district"),
        (VenueInput(code="lieu", name="Lieu", phone="123"), catalog.BadPhone, "phone"),
        (VenueInput(code="lieu", name="Lieu", opening_hours="x" * 201), catalog.TooLong, "opening_hours"),
        (VenueInput(code="lieu", name="Lieu", accessibility="x" * 301), catalog.TooLong, "accessibility"),
        (VenueInput(code="lieu", name="Lieu", checked_on="2026-12-25"), catalog.DateInFuture, "checked_on"),
    ]
    with runtime.db.transaction() as session:
        for data, refusal, field in refusals:
            with pytest.raises(catalog.InvalidEntry) as caught:
                catalog.create_venue(session, data, account=admin, now=now, tz=tz)
            assert [(type(e), e.field) for e in caught.value.errors] == [(refusal, field)], data
        with pytest.raises(catalog.InvalidEntry) as caught:
            catalog.create_district(session, DistrictInput(code="pichette", name=""), actor_id=None, now=now)
        assert [type(e) for e in caught.value.errors] == [catalog.CodeTaken, catalog.Missing]


def test_staff_create_and_edit_venues_in_their_districts_only(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["moulin-joli"])
    now, tz = runtime.clock.now(), runtime.settings.tz
    with runtime.db.transaction() as session:
        mine = catalog.create_venue(
            session, VenueInput(code="lieu", name="Lieu", district="moulin-joli"), account=agent, now=now, tz=tz
        )
        with pytest.raises(catalog.InvalidEntry) as caught:
            catalog.create_venue(session, VenueInput(code="autre", name="Autre"), account=agent, now=now, tz=tz)
        assert isinstance(caught.value.errors[0], catalog.DistrictOutOfScope)
        heva = session.exec(select(Venue).where(Venue.code == "mediatheque-heva")).one()
        with pytest.raises(catalog.OutOfScope):
            catalog.update_venue(session, id_of(heva), VenueInput(code="", name="X"), account=agent, now=now, tz=tz)
        assert catalog.may_edit_venue(agent, mine.district_id) and not catalog.may_edit_venue(agent, None)


def test_an_edit_writes_the_names_of_the_changed_fields(runtime: Runtime) -> None:
    scheme = create(runtime, VALID_SCHEME)
    now, tz = runtime.clock.now(), runtime.settings.tz
    with runtime.db.transaction() as session:
        catalog.update_scheme(
            session,
            id_of(scheme),
            replace(VALID_SCHEME, max_age="29", amount="Jusqu'à 600 €."),
            actor_id=None,
            now=now,
            tz=tz,
        )
        catalog.update_scheme(
            session,
            id_of(scheme),
            replace(VALID_SCHEME, max_age="29", amount="Jusqu'à 600 €."),
            actor_id=None,
            now=now,
            tz=tz,
        )  # nothing changes: no event
        events = list(session.exec(select(AuditEvent).where(AuditEvent.target == "scheme:aide-test")))
    assert [e.action for e in events] == [audit.SCHEME_CREATED, audit.SCHEME_UPDATED]
    assert events[1].detail == {"changed": ["max_age", "amount"]}


@pytest.mark.parametrize(
    ("amount", "review_by", "today", "shown"),
    [
        ("Jusqu'à 500 €.", date(2027, 4, 1), date(2027, 3, 31), True),
        ("Jusqu'à 500 €.", date(2027, 4, 1), date(2027, 4, 1), True),  # the last day still counts
        ("Jusqu'à 500 €.", date(2027, 4, 1), date(2027, 4, 2), False),
        ("Jusqu'à 500 €.", None, date(2027, 1, 1), False),  # never without a date to check it again by
        (None, date(2027, 4, 1), date(2027, 1, 1), False),
    ],
)
def test_an_amount_is_shown_only_until_its_review_date(
    amount: str | None, review_by: date | None, today: date, shown: bool
) -> None:
    scheme = Scheme(code="x", name="X", summary="", details="", operator="", amount=amount, review_by=review_by)
    assert schemes.amount_shown(scheme, today) == (amount if shown else None)


async def test_the_scheme_detail_shows_the_amount_while_it_is_checked(driver: Driver) -> None:
    runtime = driver.runtime
    with runtime.db.transaction() as session:
        cej = session.exec(select(Scheme).where(Scheme.code == "cej")).one()
        assert cej.amount and cej.review_by is not None and cej.review_by < TODAY  # the demo's: to check again
        amount = cej.amount
    chat = await driver.onboarded()
    await chat.tap("Trouver une aide")
    await chat.send("CEJ")
    await chat.tap("CEJ")
    assert "Contrat d'engagement jeune" in chat.text and amount not in chat.text and "Montant" not in chat.text
    with runtime.db.transaction() as session:
        session.exec(select(Scheme).where(Scheme.code == "cej")).one().review_by = TODAY + timedelta(days=1)
    await chat.tap("Revenir à la liste")
    await chat.tap("CEJ")
    assert f"Montant : {amount}" in chat.text


def test_what_is_due_for_review(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        due = {(i.kind, i.code): i.reasons for i in catalog_review.due_for_review(session, TODAY)}
        venues = len(session.exec(select(Venue)).all())
    assert due[("scheme", "rsa-engagement")] == ("review_past",)  # 2026-04-01 in the demo data
    assert due[("scheme", "iae-ai")] == ("no_source",)  # no page found for the associations here yet
    assert ("scheme", "pec") not in due  # sources, and no date to check it again by
    assert sum(kind == "venue" for kind, _ in due) == venues  # no venue of the demo says when it was checked
    with runtime.db.transaction() as session:
        scheme = session.exec(select(Scheme).where(Scheme.code == "pec")).one()
        scheme.review_by = TODAY + catalog_review.REVIEW_SOON
        heva = session.exec(select(Venue).where(Venue.code == "mediatheque-heva")).one()
        heva.checked_on = TODAY - timedelta(days=364)
        annexe = session.exec(select(Venue).where(Venue.code == "annexe-ravine-a-malheur")).one()
        annexe.checked_on = TODAY - timedelta(days=366)
        session.flush()
        due = {(i.kind, i.code): i.reasons for i in catalog_review.due_for_review(session, TODAY)}
    assert due[("scheme", "pec")] == ("review_soon",)
    assert ("venue", "mediatheque-heva") not in due
    assert due[("venue", "annexe-ravine-a-malheur")] == ("venue_stale",)


def _venue_codes(session: Session, runtime: Runtime, scheme_id: int | None) -> set[str]:
    now = runtime.clock.now()
    return {c.venue.code for c in booking.venues_with_free_slots(session, now, scheme_id=scheme_id)}


def test_a_venue_switched_to_unverified_is_no_longer_offered(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re")
    now, tz = runtime.clock.now(), runtime.settings.tz
    with runtime.db.transaction() as session:
        offered = _venue_codes(session, runtime, None)
        unverified = {v.code for v in session.exec(select(Venue).where(Venue.verified == False))}  # noqa: E712
        assert offered and not offered & unverified  # e.g. the Hôtel de ville's slots are not offered
        heva = session.exec(select(Venue).where(Venue.code == "mediatheque-heva")).one()
        assert "mediatheque-heva" in offered
        assert any(v.venue.code == "mediatheque-heva" for v in booking.free_slots(session, now, limit=50))
        data = VenueInput(code=heva.code, name=heva.name, district="centre-ville", address=heva.address or "")
        catalog.update_venue(session, id_of(heva), data, account=admin, now=now, tz=tz)
        assert "mediatheque-heva" not in _venue_codes(session, runtime, None)
        assert not booking.free_slots(session, now, venue_id=id_of(heva), limit=50)


def test_a_scheme_switched_to_unverified_is_no_longer_offered(runtime: Runtime) -> None:
    now, tz = runtime.clock.now(), runtime.settings.tz
    with runtime.db.transaction() as session:
        permis = session.exec(select(Scheme).where(Scheme.code == "aide-permis-ft")).one()
        assert booking.free_slots(session, now, scheme_id=permis.id)
        stored = catalog.scheme_sources(permis)
        data = SchemeInput(
            code=permis.code,
            name=permis.name,
            summary=permis.summary,
            details=permis.details,
            operator=permis.operator,
            goals=permis.goals,
            situations=permis.situations,
            sources=stored,
            amount=permis.amount or "",
            review_by=permis.review_by,
            verified=False,
        )
        catalog.update_scheme(session, id_of(permis), data, actor_id=None, now=now, tz=tz)
        assert not booking.free_slots(session, now, scheme_id=permis.id)
        assert not booking.venues_with_free_slots(session, now, scheme_id=permis.id)


async def test_the_booking_question_offers_verified_schemes_only(driver: Driver) -> None:
    runtime = driver.runtime
    chat = await driver.onboarded(district="Moulin Joli", age="26 à 29 ans", situation="Je cherche un emploi")
    await chat.tap("Prendre rendez-vous")
    with runtime.db.transaction() as session:
        names = {s.acronym or s.name: s.verified for s in session.exec(select(Scheme))}
    offered = [label for label in chat.labels if any(label.startswith(n) for n in names)]
    assert offered and all(names[n] for label in offered for n in names if label.startswith(n))
    first = next(s for s in names if chat.labels[1].startswith(s))
    with runtime.db.transaction() as session:
        scheme = session.exec(select(Scheme).where((Scheme.acronym == first) | (Scheme.name == first))).one()
        scheme.verified = False
    await chat.tap("Revenir au menu") if "Revenir au menu" in chat.labels else await chat.send("menu")
    await chat.tap("Prendre rendez-vous")
    assert not any(label.startswith(first) for label in chat.labels), chat.labels


def test_resident_texts_get_an_amount_only_through_amount_shown() -> None:
    """No resident-facing template reads a scheme's amount itself: the action passes `amount`, from
    schemes.amount_shown, or nothing."""
    root = REPO / "templates" / "messages"
    readers = [p for p in root.rglob("*.j2") if re.search(r"\.amount\b|\[['\"]amount['\"]\]", p.read_text("utf-8"))]
    assert readers == []
    assert "{% if amount %}" in (root / "fr" / "discovery" / "detail.j2").read_text("utf-8")
