"""A scheme's text in a language (services.schemes.scheme_text): the language's own field, else the French
column, field by field; every place a resident reads a scheme's name takes it from there; the search knows
the words of every language."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from relai_bot.conversation.actions.appointments import appointment_item
from relai_bot.conversation.actions.discovery import result_items, scheme_item
from relai_bot.services import broadcast_content, schemes
from relai_bot.services.booking import AppointmentView
from relai_bot.services.schemes import SchemeText, scheme_text, scheme_view, search_schemes
from relai_bot.store.models import Broadcast, Scheme
from relai_bot.wiring import Runtime


def _scheme(**texts: dict[str, str]) -> Scheme:
    return Scheme(
        code="cej",
        name="Contrat d'engagement jeune",
        acronym="CEJ",
        summary="Un conseiller vous suit.",
        details="Douze mois au plus.",
        operator="MIO",
        texts=texts,
    )


def test_a_text_falls_back_to_french_field_by_field() -> None:
    scheme = _scheme(rcf={"name": "Kontra angazman zenn", "summary": "  ", "details": "12 mwa o plis."})
    assert scheme_text(scheme, "rcf") == SchemeText(
        "Kontra angazman zenn", "Un conseiller vous suit.", "12 mwa o plis."
    )
    french = SchemeText("Contrat d'engagement jeune", "Un conseiller vous suit.", "Douze mois au plus.")
    assert scheme_text(scheme, "fr") == scheme_text(scheme, None) == scheme_text(scheme, "en") == french
    assert scheme_text(_scheme(), "rcf") == french  # a scheme with no Creole yet reads in French
    assert scheme_text(_scheme(fr={"name": "Autre"}), "fr") == french  # French is the columns, always


def test_the_detail_gets_the_scheme_in_the_residents_language() -> None:
    scheme = _scheme(rcf={"name": "Kontra angazman zenn"})
    scheme.verified = True
    view = scheme_view(scheme, "rcf")
    assert (view.name, view.acronym, view.summary, view.verified) == (
        "Kontra angazman zenn",
        "CEJ",
        "Un conseiller vous suit.",
        True,
    )
    assert not hasattr(view, "amount")  # the amount reaches a template through amount_shown only


def test_list_and_booking_items_name_the_scheme_in_the_residents_language() -> None:
    scheme = _scheme(rcf={"name": "Kontra angazman zenn", "summary": "In konséyé i suiv aou."})
    item = scheme_item(scheme, "rcf")
    assert (item["name"], item["label"], item["summary"]) == (
        "Kontra angazman zenn",
        "CEJ - Kontra angazman zenn",
        "In konséyé i suiv aou.",
    )
    assert scheme_item(scheme, "fr")["label"] == "CEJ - Contrat d'engagement jeune"
    long = _scheme(rcf={"name": "x" * 70})
    long.acronym = None
    assert scheme_item(long, "rcf")["label"] == "x" * 57 + "..."
    ranked = [schemes.RankedScheme(scheme, ("open",))]
    seen: list[object] = []
    render = lambda name, **context: seen.append(context["scheme"]) or "Ouvèr pou tout moun"  # noqa: E731
    [listed] = result_items(ranked, render, "rcf")
    assert listed["label"] == "CEJ - Kontra angazman zenn" and listed["why"] == "Ouvèr pou tout moun"
    assert [s.name for s in seen] == ["Kontra angazman zenn"]  # type: ignore[attr-defined]
    venue = SimpleNamespace(name="Médiathèque Heva", remote=False, address=None, town="La Possession")
    appointment = SimpleNamespace(id=1, starts_at=datetime(2026, 12, 8, 5, 0, tzinfo=UTC))
    view = AppointmentView(appointment, venue, SimpleNamespace(name="Mme Payet"), scheme)  # type: ignore[arg-type]
    assert appointment_item(view, "rcf")["scheme"]["label"] == "CEJ - Kontra angazman zenn"
    assert appointment_item(view, "fr")["scheme"]["label"] == "CEJ - Contrat d'engagement jeune"


@pytest.fixture
def session(runtime: Runtime):  # type: ignore[no-untyped-def]
    with runtime.db.transaction() as session:
        yield session


@pytest.mark.parametrize(
    ("query", "code"),
    [("kouvèz", "cape-couveuse"), ("aprantisaz", "apprentissage"), ("kontra aprantisaz", "apprentissage")],
)
def test_the_search_knows_the_creole_words_of_the_schemes(session: Session, query: str, code: str) -> None:
    found = [r.scheme.code for r in search_schemes(session, query, stopwords=("pou", "in"))]
    assert found and found[0] == code, found


def test_the_search_finds_a_word_only_the_creole_text_says(session: Session) -> None:
    pec = session.exec(select(Scheme).where(Scheme.code == "pec")).one()
    assert search_schemes(session, "zoreyzoreyaz") == []
    pec.texts = {"rcf": {**pec.texts["rcf"], "summary": "Zoreyzoreyaz travay."}}
    session.flush()
    assert [r.scheme.code for r in search_schemes(session, "zoreyzoreyaz")] == ["pec"]


def test_a_broadcast_names_its_scheme_in_each_residents_language(session: Session) -> None:
    cej = session.exec(select(Scheme).where(Scheme.code == "cej")).one()
    content = broadcast_content.content_of(session, Broadcast(text="Info", scheme_id=cej.id))
    assert content.scheme == "CEJ - Contrat d'engagement jeune"  # as staff pages show it
    creole = f"CEJ - {cej.texts['rcf']['name']}"
    assert content.context("Info", "rcf")["broadcast"]["scheme"] == creole  # type: ignore[index]
    assert content.context("Info", "fr")["broadcast"]["scheme"] == content.scheme  # type: ignore[index]
    assert content.context("Info")["broadcast"]["scheme"] == content.scheme  # type: ignore[index]
